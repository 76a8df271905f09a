package gateway

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"parley.dev/internal/push"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

const token = "fcm-token:abc.DEF_123"

// recorder is a Sender that keeps what it was handed; err makes it fail.
type recorder struct {
	mu   sync.Mutex
	got  []push.Request
	fail error
}

func (r *recorder) Send(_ context.Context, req push.Request) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.got = append(r.got, req)
	return nil
}

type fixture struct {
	now  time.Time
	h    *Handler
	sent *recorder
	logs bytes.Buffer
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{now: time.Unix(1_800_000_000, 0), sent: &recorder{}}
	v, err := push.NewVerifier(secret, func() time.Time { return f.now })
	if err != nil {
		t.Fatal(err)
	}
	f.h = New(v, f.sent, slog.New(slog.NewTextHandler(&f.logs, nil)))
	return f
}

// request is a POST of body signed under key at the time at.
func request(body string, key []byte, at time.Time) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	push.Sign(r.Header, key, at, []byte(body))
	return r
}

func (f *fixture) serve(r *http.Request) int {
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w.Code
}

func body(t *testing.T) string {
	b, err := push.Request{Platform: "fcm", Token: token}.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestGatewayForwardsExactlyTheRequest: a signed request reaches the
// Sender with its platform and token and nothing else, once.
func TestGatewayForwardsExactlyTheRequest(t *testing.T) {
	f := newFixture(t)
	if code := f.serve(request(body(t), secret, f.now)); code != http.StatusNoContent {
		t.Fatalf("status %d, want 204", code)
	}
	if len(f.sent.got) != 1 || f.sent.got[0] != (push.Request{Platform: "fcm", Token: token}) {
		t.Fatalf("sender got %+v", f.sent.got)
	}
	if strings.Contains(f.logs.String(), token) {
		t.Fatalf("the token reached the log: %s", f.logs.String())
	}
	if !strings.Contains(f.logs.String(), TokenTag(token)) {
		t.Fatalf("the log lacks the token's tag: %s", f.logs.String())
	}
}

// TestGatewayRefusesAndSendsNothing: a forged, missing, stale or replayed
// signature, a body that is not {platform, token}, another method and an
// oversized body are each refused, and nothing is sent.
func TestGatewayRefusesAndSendsNothing(t *testing.T) {
	f := newFixture(t)
	good := body(t)
	replayed := request(good, secret, f.now)
	if code := f.serve(replayed.Clone(context.Background())); code != http.StatusNoContent {
		t.Fatalf("first request: status %d", code)
	}
	f.sent.got = nil
	unsigned := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(good))
	tampered := request(good, secret, f.now)
	tampered.Body = http.NoBody
	extra := `{"platform":"fcm","token":"` + token + `","from":"alice"}`
	get := request(good, secret, f.now)
	get.Method = http.MethodGet
	huge := strings.Repeat("x", push.MaxBody+1)
	for _, c := range []struct {
		name string
		r    *http.Request
		want int
	}{
		{"forged key", request(good, []byte("another secret, also 32 bytes!!!"), f.now), http.StatusUnauthorized},
		{"unsigned", unsigned, http.StatusUnauthorized},
		{"body changed after signing", tampered, http.StatusUnauthorized},
		{"stale", request(good, secret, f.now.Add(-push.MaxSkew-time.Second)), http.StatusUnauthorized},
		{"from the future", request(good, secret, f.now.Add(push.MaxSkew+time.Second)), http.StatusUnauthorized},
		{"replayed", replayed, http.StatusUnauthorized},
		{"extra field", request(extra, secret, f.now), http.StatusBadRequest},
		{"unknown platform", request(`{"platform":"sms","token":"x"}`, secret, f.now), http.StatusBadRequest},
		{"GET", get, http.StatusMethodNotAllowed},
		{"oversized", request(huge, secret, f.now), http.StatusRequestEntityTooLarge},
	} {
		if code := f.serve(c.r); code != c.want {
			t.Errorf("%s: status %d, want %d", c.name, code, c.want)
		}
	}
	if len(f.sent.got) != 0 {
		t.Fatalf("refused requests reached the sender: %+v", f.sent.got)
	}
	if n := f.h.Stats.Refused.Load(); n != 6 {
		t.Fatalf("%d counted as refused, want 6", n)
	}
}

// TestGatewaySenderFailureIsRetryable: when the notification service
// fails the relay is told with a 5xx, which it retries.
func TestGatewaySenderFailureIsRetryable(t *testing.T) {
	f := newFixture(t)
	f.sent.fail = errors.New("FCM unavailable")
	if code := f.serve(request(body(t), secret, f.now)); code != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", code)
	}
	if f.h.Stats.Failed.Load() != 1 || f.h.Stats.Sent.Load() != 0 {
		t.Fatal("failure not counted")
	}
}

// FuzzHandler: any request body, signed or not, gets an answer and is
// sent only if it is exactly a valid {platform, token}.
func FuzzHandler(f *testing.F) {
	f.Add([]byte(`{"platform":"apns","token":"ab01"}`), true)
	f.Add([]byte(`{"platform":"fcm"}`), true)
	f.Add([]byte(`[]`), false)
	f.Fuzz(func(t *testing.T, b []byte, sign bool) {
		fx := newFixture(t)
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(b))
		if sign {
			push.Sign(r.Header, secret, fx.now, b)
		}
		code := fx.serve(r)
		_, perr := push.ParseRequest(b)
		wantSent := sign && perr == nil && len(b) <= push.MaxBody
		if (code == http.StatusNoContent) != wantSent || (len(fx.sent.got) == 1) != wantSent {
			t.Fatalf("body %q signed=%v: status %d, sent %d", b, sign, code, len(fx.sent.got))
		}
	})
}
