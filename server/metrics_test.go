package server

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"parley.dev/internal/wire"
)

// TestRejectedCountsEveryCode: every error code wire defines is counted
// under its own name, whatever its number (the blob codes are above 64,
// where a fixed-size array once stopped counting), and a code unknown to
// this relay under "other".
func TestRejectedCountsEveryCode(t *testing.T) {
	m := newMetrics()
	codes := wire.ErrorCodes()
	if codes[len(codes)-1] < wire.CodeNoBlob {
		t.Fatalf("ErrorCodes ends at %d: the test would not reach the high codes", codes[len(codes)-1])
	}
	for i, c := range codes {
		for range i + 1 {
			m.reject(c)
		}
	}
	m.reject(wire.Code(999))
	var b strings.Builder
	m.write(&b)
	for i, c := range codes {
		want := fmt.Sprintf("parley_rejected_total{reason=%q} %d\n", c.String(), i+1)
		if !strings.Contains(b.String(), want) {
			t.Errorf("exposition lacks %q", want)
		}
	}
	if !strings.Contains(b.String(), "parley_rejected_total{reason=\"other\"} 1\n") {
		t.Error("an unknown code is not counted as other")
	}
}

// TestOperationsDocMetrics: every metric docs/operations.md names is one
// the relay serves, so the monitoring guide cannot drift from the code.
func TestOperationsDocMetrics(t *testing.T) {
	doc, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	conf, err := DevTLS(dir)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{DataDir: dir, TLSConfig: conf, PushGateway: "https://push.example", PushSecret: make([]byte, 32)}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	rec := httptest.NewRecorder()
	s.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	served := "\n" + rec.Body.String()
	names := regexp.MustCompile("`((?:parley|process)_[a-z_]+)`").FindAllStringSubmatch(string(doc), -1)
	if len(names) < 10 {
		t.Fatalf("only %d metrics named in operations.md", len(names))
	}
	for _, m := range names {
		if strings.HasPrefix(m[1], "process_") && runtime.GOOS != "linux" {
			continue
		}
		if !strings.Contains(served, "\n# TYPE "+m[1]+" ") {
			t.Errorf("operations.md names %s, which /metrics does not serve", m[1])
		}
	}
}
