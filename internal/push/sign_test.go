package push

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func signed(now time.Time, body string) http.Header {
	h := http.Header{}
	Sign(h, secret, now, []byte(body))
	return h
}

func TestVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	v, err := NewVerifier(secret, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	body := `{"platform":"fcm","token":"t"}`
	h := signed(now, body)
	if err := v.Verify(h, []byte(body)); err != nil {
		t.Fatalf("a good request: %v", err)
	}
	if err := v.Verify(h, []byte(body)); !errors.Is(err, ErrReplayed) {
		t.Fatalf("the same request again: %v, want replayed", err)
	}
	other, _ := NewVerifier([]byte(strings.Repeat("x", MinSecret)), func() time.Time { return now })
	for name, tc := range map[string]struct {
		v    *Verifier
		h    http.Header
		body string
		want error
	}{
		"other secret":    {other, signed(now, body), body, ErrBadSignature},
		"other body":      {v, signed(now, body), `{"platform":"fcm","token":"u"}`, ErrBadSignature},
		"stale":           {v, signed(now.Add(-MaxSkew-time.Millisecond), body), body, ErrStale},
		"from the future": {v, signed(now.Add(MaxSkew+time.Millisecond), body), body, ErrStale},
		"no headers":      {v, http.Header{}, body, ErrBadSignature},
	} {
		if err := tc.v.Verify(tc.h, []byte(tc.body)); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	h = signed(now, body)
	h.Set(HeaderTimestamp, h.Get(HeaderTimestamp)+"1")
	if err := v.Verify(h, []byte(body)); !errors.Is(err, ErrBadSignature) {
		t.Errorf("a changed timestamp: %v", err)
	}
	h = signed(now, body)
	h.Set(HeaderNonce, strings.Repeat("0", 2*nonceLen))
	if err := v.Verify(h, []byte(body)); !errors.Is(err, ErrBadSignature) {
		t.Errorf("a changed nonce: %v", err)
	}
	if _, err := NewVerifier(secret[:MinSecret-1], nil); err == nil {
		t.Error("a short secret accepted")
	}
}

func TestParseRequest(t *testing.T) {
	r, err := ParseRequest([]byte(`{"platform":"apns","token":"ab01"}`))
	if err != nil || r != (Request{Platform: "apns", Token: "ab01"}) {
		t.Fatalf("ParseRequest = %+v, %v", r, err)
	}
	for _, bad := range []string{
		``, `null`, `[]`, `{}`, `{"platform":"fcm"}`, `{"token":"t"}`,
		`{"platform":"gcm","token":"t"}`, `{"platform":"fcm","token":"t b"}`,
		`{"platform":"fcm","token":"t","sender":"bob"}`, `{"platform":"fcm","token":"t"} {}`,
		`{"platform":"fcm","token":"` + strings.Repeat("a", MaxBody) + `"}`,
	} {
		if _, err := ParseRequest([]byte(bad)); !errors.Is(err, ErrBadRequest) {
			t.Errorf("ParseRequest(%.40q) = %v, want ErrBadRequest", bad, err)
		}
	}
	b, err := Request{Platform: "fcm", Token: "x:y"}.Marshal()
	if err != nil || string(b) != `{"platform":"fcm","token":"x:y"}` {
		t.Fatalf("Marshal = %s, %v", b, err)
	}
}

// FuzzParseRequest: the gateway's body parser never panics, and whatever
// it accepts is a valid request that re-encodes and parses the same.
func FuzzParseRequest(f *testing.F) {
	f.Add([]byte(`{"platform":"fcm","token":"abc"}`))
	f.Add([]byte(`{"platform":"apns","token":"00ff","x":1}`))
	f.Add([]byte(`{"token":"a","platform":"fcm"}  `))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParseRequest(body)
		if err != nil {
			return
		}
		b, err := r.Marshal()
		if err != nil {
			t.Fatalf("accepted %+v does not marshal: %v", r, err)
		}
		if r2, err := ParseRequest(b); err != nil || r2 != r {
			t.Fatalf("round trip: %+v, %v", r2, err)
		}
	})
}

// FuzzVerify: arbitrary headers and bodies never panic the verifier, and
// only a correctly signed request is accepted.
func FuzzVerify(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	h := signed(now, "b")
	f.Add(h.Get(HeaderTimestamp), h.Get(HeaderNonce), h.Get(HeaderSignature), []byte("b"))
	f.Add("-1", "", "v1=", []byte{})
	f.Fuzz(func(t *testing.T, ts, nonce, sig string, body []byte) {
		v, _ := NewVerifier(secret, func() time.Time { return now })
		h := http.Header{}
		h.Set(HeaderTimestamp, ts)
		h.Set(HeaderNonce, nonce)
		h.Set(HeaderSignature, sig)
		if v.Verify(h, body) == nil {
			want := signaturePrefix + hexMAC(ts, nonce, body)
			if !strings.EqualFold(sig, want) || !strings.HasPrefix(sig, signaturePrefix) {
				t.Fatalf("accepted a signature that is not the MAC")
			}
		}
	})
}

func hexMAC(ts, nonce string, body []byte) string {
	const digits = "0123456789abcdef"
	m := mac(secret, ts, nonce, body)
	out := make([]byte, 0, 2*len(m))
	for _, c := range m {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}
