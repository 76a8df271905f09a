package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"parley.dev/server"
)

func TestReadyzOnBothListeners(t *testing.T) {
	dir := t.TempDir()
	p := startRun(t, "--dev", "--data", dir, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0")
	private := strings.TrimSuffix(p.metricsURL, "/metrics")
	client := trusting(t, filepath.Join(dir, server.DevCAFile), 0)
	for _, u := range []string{p.url + "/readyz", private + "/readyz"} {
		if code, body := get(t, client, u); code != 200 || body != "ready\n" {
			t.Errorf("%s: %d %q", u, code, body)
		}
	}
	if code, body := get(t, client, private+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("private /healthz: %d %q", code, body)
	}
}

func TestHealthCommand(t *testing.T) {
	dir := t.TempDir()
	p := startRun(t, "--dev", "--data", dir, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0")
	ctx := context.Background()
	_, port, _ := strings.Cut(strings.TrimPrefix(p.url, "https://"), ":")
	ok := [][]string{
		{"--listen", ":" + port}, // the default URL, from --listen
		{"--url", p.url + "/readyz", "--ca", filepath.Join(dir, "ca.pem")}, // verified
		{"--url", strings.TrimSuffix(p.metricsURL, "/metrics") + "/readyz"},
	}
	for _, args := range ok {
		var out bytes.Buffer
		if err := run(ctx, append([]string{"health"}, args...), &out, io.Discard); err != nil || !strings.Contains(out.String(), "ready") {
			t.Errorf("health %v: %v %q", args, err, out.String())
		}
	}
	t.Setenv("PARLEY_LISTEN", ":"+port)
	if err := run(ctx, []string{"health"}, io.Discard, io.Discard); err != nil {
		t.Errorf("health with PARLEY_LISTEN: %v", err)
	}
	bad := map[string][]string{
		"a non-loopback host without --ca": {"--url", "https://192.0.2.1:8443/readyz"},
		"not a URL":                        {"--url", "ftp://x/readyz"},
		"nothing listening":                {"--url", "http://127.0.0.1:1/readyz", "--timeout", "2s"},
		"not 200":                          {"--url", p.url + "/nope"},
	}
	for name, args := range bad {
		if err := run(ctx, append([]string{"health"}, args...), io.Discard, io.Discard); err == nil {
			t.Errorf("health %s: no error", name)
		}
	}
}

// TestDrainDelay: after the signal the relay says "draining" on /readyz
// and still serves, then stops.
func TestDrainDelay(t *testing.T) {
	dir := t.TempDir()
	p := startRun(t, "--dev", "--data", dir, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--drain-delay", "3s")
	client := trusting(t, filepath.Join(dir, server.DevCAFile), 0)
	p.cancel()
	p.cancel = nil
	deadline := time.Now().Add(2500 * time.Millisecond)
	for {
		code, body := get(t, client, p.url+"/readyz")
		if code == http.StatusServiceUnavailable && body == "draining\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz during the drain delay: %d %q", code, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code, _ := get(t, client, p.url+"/healthz"); code != 200 {
		t.Errorf("healthz while draining: %d", code)
	}
	if err := <-p.done; err != nil {
		t.Errorf("parleyd returned %v", err)
	}
}

func TestLogFormatJSON(t *testing.T) {
	var buf bytes.Buffer
	newLogger(&buf, logJSON, 0).Info("shutting down", "drain", "0s")
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil || rec["msg"] != "shutting down" || rec["level"] != "INFO" {
		t.Fatalf("JSON log line %q: %v", buf.String(), err)
	}
	buf.Reset()
	newLogger(&buf, logText, 0).Info("x")
	if !strings.HasPrefix(buf.String(), "time=") {
		t.Errorf("text log line %q", buf.String())
	}
	_, err := parseFlags([]string{"--dev", "--log-format", "xml"}, io.Discard, io.Discard)
	if !errors.As(err, new(usageError)) {
		t.Errorf("--log-format xml: %v", err)
	}
}

// TestLogFormatJSONRelay runs the relay with --log-format json and reads
// its stderr: every line is a JSON object.
func TestLogFormatJSONRelay(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var stderr lockedBuffer
	done := make(chan error, 1)
	pr, pw := io.Pipe()
	go func() {
		done <- run(ctx, []string{"--dev", "--data", t.TempDir(), "--listen", "127.0.0.1:0", "--log-format", "json", "--metrics-listen", "0.0.0.0:0"}, pw, &stderr)
		pw.Close()
	}()
	greeting, _ := bufio.NewReader(pr).ReadString('\n') // the relay serves
	go io.Copy(io.Discard, pr)
	cancel()
	if !strings.Contains(greeting, "relay listening") {
		t.Fatalf("greeting %q", greeting)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) < 2 { // the metrics warning and "shutting down"
		t.Fatalf("stderr: %q", stderr.String())
	}
	for _, l := range lines {
		if !json.Valid([]byte(l)) {
			t.Errorf("not JSON: %q", l)
		}
	}
}

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
