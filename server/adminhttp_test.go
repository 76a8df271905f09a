package server_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"parley.dev/server"
)

// adminPaths is every admin console route, with its method.
var adminPaths = [][2]string{
	{"GET", server.AdminPathUsers}, {"GET", server.AdminPathUsers + "/alice/devices"},
	{"POST", server.AdminPathRevoke}, {"POST", server.AdminPathSuspend}, {"POST", server.AdminPathResume},
	{"POST", server.AdminPathDelete}, {"POST", server.AdminPathToken}, {"POST", server.AdminPathPolicy},
	{"GET", server.AdminPathAudit}, {"GET", server.AdminPathAuditVerify},
}

// TestAdminNotOnPublicPort: no admin route answers on the relay's public
// TLS listener.
func TestAdminNotOnPublicPort(t *testing.T) {
	r := startRelay(t)
	c := r.Client()
	for _, p := range adminPaths {
		req, _ := http.NewRequest(p[0], r.URL+p[1], strings.NewReader(`{"user":"alice"}`))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s %s on the public port: %d, want 404", p[0], p[1], resp.StatusCode)
		}
	}
}

// adminClient serves s's admin console on a unix socket and returns a
// client for it.
func adminClient(t *testing.T, s *server.Server) (do func(method, path, body string) (int, string)) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "admin.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: s.AdminHandler()}
	go hs.Serve(l)
	t.Cleanup(func() { hs.Close() })
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}}
	return func(method, path, body string) (int, string) {
		req, _ := http.NewRequest(method, "http://admin"+path, strings.NewReader(body))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		_, _ = io.Copy(&b, resp.Body)
		return resp.StatusCode, b.String()
	}
}

// TestAdminSocket: the admin console over a unix socket lists users and
// devices (with last seen and queue depth), revokes a live device, mints
// a token, and answers clear JSON errors.
func TestAdminSocket(t *testing.T) {
	_, signer, _ := ed25519.GenerateKey(nil)
	r := startRelay(t, func(s *server.Server) { s.TokenSigningKey = signer })
	alice := register(t, r, "alice")
	phone := sibling(t, r, alice)
	ws := phone.Dial(t)
	do := adminClient(t, r.Server)

	code, body := do("GET", server.AdminPathUsers+"/alice/devices", "")
	var devs []server.DeviceSummary
	if err := json.Unmarshal([]byte(body), &devs); code != 200 || err != nil || len(devs) != 2 {
		t.Fatalf("devices: %d %s", code, body)
	}
	if seen := devs[1].LastSeen; seen.IsZero() {
		t.Errorf("connected device has no last seen: %+v", devs)
	}
	code, body = do("POST", server.AdminPathRevoke, fmt.Sprintf(`{"user":"alice","device":%d}`, devs[1].Device))
	if code != 200 {
		t.Fatalf("revoke: %d %s", code, body)
	}
	if s := closedWith(t, ws); s != websocket.StatusPolicyViolation {
		t.Errorf("revoked device closed with %v", s)
	}
	if code, body = do("POST", server.AdminPathToken, `{"user":"carol","ttl":"1h"}`); code != 200 || !strings.Contains(body, `"token"`) {
		t.Errorf("token: %d %s", code, body)
	}
	for _, c := range []struct {
		method, path, body string
		want               int
	}{
		{"POST", server.AdminPathSuspend, `{"user":"nobody"}`, 404},
		{"POST", server.AdminPathSuspend, `{"user":""}`, 400},
		{"POST", server.AdminPathSuspend, `{"user":"a","x":1}`, 400},
		{"POST", server.AdminPathSuspend, strings.Repeat(" ", 8<<10) + `{"user":"a"}`, 400},
		{"POST", server.AdminPathToken, `{"user":"carol","ttl":"-1h"}`, 400},
		{"POST", server.AdminPathPolicy, `not a policy`, 400},
		{"GET", server.AdminPathAudit + "?after=x", "", 400},
		{"GET", server.AdminPrefix + "nope", "", 404},
		{"DELETE", server.AdminPathUsers, "", 404},
	} {
		code, body := do(c.method, c.path, c.body)
		if code != c.want || !strings.Contains(body, `"error"`) {
			t.Errorf("%s %s %.40q: %d %s, want %d and an error", c.method, c.path, c.body, code, body, c.want)
		}
	}
	if code, body = do("GET", server.AdminPathAuditVerify, ""); code != 200 || !strings.Contains(body, `"verified"`) {
		t.Errorf("verify: %d %s", code, body)
	}
	if code, body = do("GET", server.AdminPathAudit+"?limit=10", ""); code != 200 || !strings.Contains(body, "token.mint") {
		t.Errorf("audit: %d %s", code, body)
	}
}
