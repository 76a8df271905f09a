package server_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"parley.dev/server"
	"parley.dev/server/servertest"
)

// getText returns a GET's status and body.
func getText(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestReadyBeforeStart(t *testing.T) {
	s := &server.Server{DataDir: t.TempDir()}
	if err := s.Ready(); !errors.Is(err, server.ErrStarting) {
		t.Fatalf("Ready before Start = %v, want ErrStarting", err)
	}
	rec := httptest.NewRecorder()
	s.ReadyHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable || rec.Body.String() != "starting\n" {
		t.Fatalf("readyz before Start: %d %q", rec.Code, rec.Body)
	}
}

func TestReadyDrainAndShutdown(t *testing.T) {
	relay := servertest.Start(t)
	c := relay.Client()
	if code, body := getText(t, c, relay.URL+"/readyz"); code != http.StatusOK || body != "ready\n" {
		t.Fatalf("readyz of a started relay: %d %q", code, body)
	}
	relay.Server.Drain()
	if code, body := getText(t, c, relay.URL+"/readyz"); code != http.StatusServiceUnavailable || body != "draining\n" {
		t.Fatalf("readyz while draining: %d %q", code, body)
	}
	// Draining still serves: the process is healthy and the API answers.
	if code, _ := getText(t, c, relay.URL+"/healthz"); code != http.StatusOK {
		t.Fatalf("healthz while draining: %d", code)
	}
	if err := relay.Server.Ready(); !errors.Is(err, server.ErrDraining) {
		t.Fatalf("Ready while draining = %v", err)
	}
	relay.Stop(t)
	if err := relay.Server.Ready(); !errors.Is(err, server.ErrDraining) {
		t.Fatalf("Ready after Shutdown = %v", err)
	}
}

func TestReadyShutdownWithoutDrain(t *testing.T) {
	relay := servertest.Start(t)
	if err := relay.Server.Ready(); err != nil {
		t.Fatalf("Ready = %v", err)
	}
	if err := relay.Server.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := relay.Server.Ready(); !errors.Is(err, server.ErrDraining) {
		t.Fatalf("Ready after Shutdown = %v, want ErrDraining", err)
	}
}
