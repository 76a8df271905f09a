package wire

import (
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"testing"
)

// pushSamples are valid push frames and requests (part of samples(), so
// the round-trip test and FuzzParse's seeds cover them).
func pushSamples() []Frame {
	reg := &PushRegister{Platform: PushFCM, Token: "fcm:APA91b-x_y.z"}
	return []Frame{
		reg,
		&PushRegister{Platform: PushAPNs, Token: strings.Repeat("ab", 32)},
		&Request{ID: 12, Op: OpPushRegister, Push: reg},
		&Request{ID: 13, Op: OpPushClear},
	}
}

// TestPushKnownAnswer freezes the push layouts.
func TestPushKnownAnswer(t *testing.T) {
	for _, tc := range []struct {
		f    Frame
		want string
	}{
		{&PushRegister{Platform: PushAPNs, Token: "ab12"}, "01a0" + "02" + "0004" + hex.EncodeToString([]byte("ab12"))},
		{&Request{ID: 1, Op: OpPushRegister, Push: &PushRegister{Platform: PushFCM, Token: "t"}}, "0147" + "00000001" + "a0" + "01" + "0001" + "74"},
		{&Request{ID: 2, Op: OpPushClear}, "0147" + "00000002" + "a1"},
	} {
		b, err := Marshal(tc.f)
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(b); got != tc.want {
			t.Errorf("%v:\n got %s\nwant %s", tc.f.Type(), got, tc.want)
		}
	}
}

func TestPushRefusals(t *testing.T) {
	long := strings.Repeat("a", MaxPushToken+1)
	for name, p := range map[string]*PushRegister{
		"platform 0":      {Platform: 0, Token: "t"},
		"platform 3":      {Platform: 3, Token: "t"},
		"empty token":     {Platform: PushFCM},
		"long token":      {Platform: PushFCM, Token: long},
		"space in token":  {Platform: PushFCM, Token: "a b"},
		"slash in token":  {Platform: PushAPNs, Token: "a/b"},
		"escape in token": {Platform: PushAPNs, Token: "a\x1bb"},
	} {
		if _, err := Marshal(p); !errors.Is(err, CodeMalformed) {
			t.Errorf("%s: Marshal err = %v, want malformed", name, err)
		}
		b := []byte{Version, byte(TypePushRegister), byte(p.Platform), byte(len(p.Token) >> 8), byte(len(p.Token))}
		if _, err := Parse(append(b, p.Token...)); !errors.Is(err, CodeMalformed) {
			t.Errorf("%s: Parse err = %v, want malformed", name, err)
		}
	}
	if _, err := Marshal(&Request{Op: OpPushRegister}); err == nil {
		t.Error("a push-register request without its registration marshals")
	}
	if CodePushDisabled.String() != "push-disabled" || CodePushDisabled.HTTPStatus() != http.StatusNotImplemented {
		t.Errorf("CodePushDisabled = %v, %d", CodePushDisabled, CodePushDisabled.HTTPStatus())
	}
}

func TestPushPlatformNames(t *testing.T) {
	for _, p := range []PushPlatform{PushFCM, PushAPNs} {
		if q, ok := ParsePushPlatform(p.String()); !ok || q != p {
			t.Errorf("ParsePushPlatform(%q) = %v, %v", p, q, ok)
		}
	}
	for _, bad := range []string{"", "FCM", "gcm", "apns "} {
		if _, ok := ParsePushPlatform(bad); ok {
			t.Errorf("ParsePushPlatform(%q) accepted", bad)
		}
	}
}

// FuzzParsePushRegister feeds arbitrary bodies to the push registration's
// parser: whatever parses has a known platform and a valid token, and
// re-encodes to the same bytes.
func FuzzParsePushRegister(f *testing.F) {
	for _, fr := range pushSamples() {
		b, _ := Marshal(fr)
		f.Add(b[HeaderLen:])
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		b := append([]byte{Version, byte(TypePushRegister)}, body...)
		p, err := ParseAs[*PushRegister](b)
		if err != nil {
			return
		}
		if !p.Platform.Valid() || !ValidPushToken(p.Token) {
			t.Fatalf("parsed %v %q", p.Platform, p.Token)
		}
		out, err := Marshal(p)
		if err != nil || string(out) != string(b) {
			t.Fatalf("not canonical: %x, %v", out, err)
		}
	})
}
