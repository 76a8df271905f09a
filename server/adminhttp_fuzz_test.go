package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"parley.dev/server"
)

// FuzzAdminHandler: whatever the body, every admin route answers with
// JSON, and an error status carries an error message.
func FuzzAdminHandler(f *testing.F) {
	r := startRelay(f)
	register(f, r, "alice")
	h := r.Server.AdminHandler()
	for i, body := range []string{`{"user":"alice"}`, `{"user":"alice","device":1}`, `{"user":"bob","ttl":"1h"}`, `{`, `null`, `[]`, `{"user":1}`} {
		f.Add(uint8(i), []byte(body))
	}
	paths := []string{server.AdminPathRevoke, server.AdminPathSuspend, server.AdminPathResume, server.AdminPathToken, server.AdminPathPolicy}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		path := paths[int(which)%len(paths)]
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", path, bytes.NewReader(body)))
		var v map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
			t.Fatalf("POST %s %q: %d %q is not a JSON object", path, body, rec.Code, rec.Body)
		}
		if rec.Code != http.StatusOK && v["error"] == nil {
			t.Fatalf("POST %s %q: %d without an error", path, body, rec.Code)
		}
		if rec.Code == http.StatusInternalServerError {
			t.Fatalf("POST %s %q: %d %v", path, body, rec.Code, v)
		}
	})
}
