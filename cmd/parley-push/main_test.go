package main

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"parley.dev/internal/push"
)

const testSecret = "0123456789abcdef0123456789abcdef"

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// TestGatewayServes: the real command, on a loopback port, takes a signed
// wake-up, refuses a forged one, and never logs the token.
func TestGatewayServes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0"}, env(map[string]string{"PARLEY_PUSH_SECRET": testSecret}), logs, func(a string) { addrc <- a })
	}()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatalf("gateway did not start: %v", err)
	}
	const token = "device-token-do-not-log"
	body := []byte(`{"platform":"apns","token":"` + token + `"}`)
	post := func(key string) int {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/", bytes.NewReader(body))
		push.Sign(req.Header, []byte(key), time.Now(), body)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(testSecret); code != http.StatusNoContent {
		t.Fatalf("signed wake-up: status %d", code)
	}
	if code := post(strings.Repeat("k", 32)); code != http.StatusUnauthorized {
		t.Fatalf("forged wake-up: status %d, want 401", code)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	out := logs.String()
	if strings.Contains(out, token) || !strings.Contains(out, "wake-up (log sender") {
		t.Fatalf("log:\n%s", out)
	}
}

// TestGatewayRefusesUnsafeConfig: plain HTTP off loopback, a short secret,
// half a TLS pair and an unknown sender are refused before listening.
func TestGatewayRefusesUnsafeConfig(t *testing.T) {
	for _, args := range [][]string{
		{"--secret", testSecret, "--listen", "0.0.0.0:8089"},
		{"--secret", testSecret, "--listen", "192.0.2.1:8089"},
		{"--secret", "short"},
		{"--secret", testSecret, "--tls-cert", "c.pem"},
		{"--secret", testSecret, "--sender", "fcm"},
		{"--listen", "127.0.0.1:0"},
	} {
		err := run(context.Background(), args, env(nil), &syncBuffer{}, func(string) { t.Errorf("%q: listening", args) })
		if err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}
