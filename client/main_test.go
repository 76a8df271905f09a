package client_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"parley.dev/client"
	"parley.dev/internal/vault"
	"parley.dev/server"
	"parley.dev/server/servertest"
)

func TestMain(m *testing.M) {
	vault.UnsafeCheapKDFForTests()
	os.Exit(m.Run())
}

var testPIN = []byte("482916")

// testOneTimePreKeys is how many one-time prekeys of each kind test
// devices keep (the default, 100, makes registration slow under -race):
// the relay's low-water mark, so that one bundle taken makes them low.
const testOneTimePreKeys = server.DefaultPreKeyLowWater

// generous lifts the relay's rate limits: tests make many requests from
// one address and one device.
func generous(s *server.Server) {
	s.ChallengeRate = server.Rate{Burst: 100_000, Per: time.Minute}
	s.RegisterRate = server.Rate{Burst: 10_000, Per: time.Minute}
	s.BundleRate = server.Rate{Burst: 10_000, Per: time.Minute}
	s.DeviceRate = server.Rate{Burst: 10_000, Per: time.Minute}
	s.UnlockRate = server.Rate{Burst: 10_000, Per: time.Minute}
	s.UnlockCredentialRate = server.Rate{Burst: 10_000, Per: time.Minute}
}

// startRelay starts an in-process relay over real TLS.
func startRelay(t *testing.T, configure ...func(*server.Server)) *servertest.Relay {
	t.Helper()
	return servertest.Start(t, append([]func(*server.Server){generous}, configure...)...)
}

// newClient returns a Client with a fresh vault, not registered. Each
// configure function may set fields (a Logger, a clock) before Create.
func newClient(t *testing.T, r *servertest.Relay, name string, configure ...func(*client.Client)) *client.Client {
	t.Helper()
	c := &client.Client{Home: filepath.Join(t.TempDir(), name), Server: r.URL, CAFile: r.CAFile}
	client.SetOneTimePreKeys(c, testOneTimePreKeys)
	for _, f := range configure {
		f(c)
	}
	if err := c.Create(context.Background(), testPIN); err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// register returns a Client registered as user, configured as newClient.
func register(t *testing.T, r *servertest.Relay, user string, configure ...func(*client.Client)) *client.Client {
	t.Helper()
	c := newClient(t, r, user, configure...)
	if _, err := c.Register(context.Background(), user, client.RegisterOptions{}); err != nil {
		t.Fatalf("Register(%s): %v", user, err)
	}
	return c
}

// reopen closes c and unlocks its vault again, as a restarted app would.
func reopen(t *testing.T, c *client.Client, configure ...func(*client.Client)) *client.Client {
	t.Helper()
	c.Close()
	c2 := &client.Client{Home: c.Home}
	for _, f := range configure {
		f(c2)
	}
	if err := c2.Unlock(context.Background(), testPIN); err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	t.Cleanup(func() { c2.Close() })
	return c2
}

func send(t *testing.T, c *client.Client, to, text string) client.MessageID {
	t.Helper()
	id, err := c.Send(context.Background(), to, text)
	if err != nil {
		t.Fatalf("Send(%s, %q): %v", to, text, err)
	}
	return id
}

func syncNow(t *testing.T, c *client.Client) []client.Event {
	t.Helper()
	evs, err := c.Sync(context.Background())
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	return evs
}

// texts returns the texts of the message events of kind k.
func texts(evs []client.Event, k client.EventKind) []string {
	var out []string
	for _, e := range evs {
		if e.Kind == k && e.Message != nil {
			out = append(out, e.Message.Text)
		}
	}
	return out
}

func historyTexts(t *testing.T, c *client.Client, user string) []string {
	t.Helper()
	h, err := c.History(context.Background(), user)
	if err != nil {
		t.Fatalf("History: %v", err)
	}
	var out []string
	for _, m := range h {
		out = append(out, m.Text)
	}
	return out
}

func wantTexts(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s = %q, want %q", what, got, want)
	}
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: err = %v, want %v", what, err, target)
	}
}
