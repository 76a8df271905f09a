package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"parley.dev/server"
)

// FuzzAdminHandler: whatever the route's user, device and body, the admin
// console answers JSON, an error status carries a message, and
// no input is a 500.
func FuzzAdminHandler(f *testing.F) {
	r := startRelay(f)
	register(f, r, "alice")
	h := r.Server.AdminHandler()
	routes := server.AdminRoutes()
	for i, body := range []string{`{"user":"alice","expires":"2030-01-01T00:00:00Z"}`, `{`, `null`, `[]`, `{"user":1}`, ``} {
		f.Add(uint8(i), "alice", "1", []byte(body))
	}
	f.Add(uint8(0), "Not Valid", "0", []byte(`{}`))
	f.Fuzz(func(t *testing.T, which uint8, user, device string, body []byte) {
		method, path, _ := strings.Cut(routes[int(which)%len(routes)], " ")
		path = strings.NewReplacer("{user}", url.PathEscape(user), "{device}", url.PathEscape(device)).Replace(path)
		req, err := http.NewRequest(method, "http://admin"+path, bytes.NewReader(body))
		if err != nil {
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s %s %q: %d %q is not JSON", method, path, body, rec.Code, rec.Body)
		}
		var v struct{ Error *string }
		if json.Unmarshal(rec.Body.Bytes(), &v); rec.Code != http.StatusOK && v.Error == nil {
			t.Fatalf("%s %s %q: %d without an error", method, path, body, rec.Code)
		}
		if rec.Code == http.StatusInternalServerError {
			t.Fatalf("%s %s %q: %d %v", method, path, body, rec.Code, v)
		}
	})
}
