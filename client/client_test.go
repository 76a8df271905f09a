package client_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"parley.dev/client"
)

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	r := startRelay(t)
	alice, bob := register(t, r, "alice"), register(t, r, "bob")

	id := send(t, alice, "bob", "Hi Bob, it's Alice.")
	evs := syncNow(t, bob)
	wantTexts(t, "bob's new messages", texts(evs, client.EventMessage), "Hi Bob, it's Alice.")
	m := evs[len(evs)-1].Message
	if m.ID != id || m.Contact != "alice" || m.Outgoing || m.Status != client.StatusReceived || m.NewIdentity {
		t.Fatalf("bob's message = %+v", m)
	}

	send(t, bob, "alice", "Hi Alice!")
	wantTexts(t, "alice's new messages", texts(syncNow(t, alice), client.EventMessage), "Hi Alice!")
	send(t, alice, "bob", "Got it.")
	wantTexts(t, "bob's new messages", texts(syncNow(t, bob), client.EventMessage), "Got it.")

	wantTexts(t, "alice's history", historyTexts(t, alice, "bob"), "Hi Bob, it's Alice.", "Hi Alice!", "Got it.")
	wantTexts(t, "bob's history", historyTexts(t, bob, "alice"), "Hi Bob, it's Alice.", "Hi Alice!", "Got it.")
	h, _ := alice.History(context.Background(), "bob")
	if !h[0].Outgoing || h[0].Status != client.StatusSent || h[1].Outgoing {
		t.Fatalf("alice's history = %+v", h)
	}
	if evs := syncNow(t, bob); len(texts(evs, client.EventMessage)) != 0 {
		t.Fatalf("second sync delivered again: %+v", evs)
	}
}

func TestOfflineDelivery(t *testing.T) {
	t.Parallel()
	r := startRelay(t)
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	for _, s := range []string{"one", "two", "three"} {
		send(t, alice, "bob", s)
	}
	bob = reopen(t, bob) // bob was not even running
	wantTexts(t, "bob's messages", texts(syncNow(t, bob), client.EventMessage), "one", "two", "three")
	wantTexts(t, "bob's history", historyTexts(t, bob, "alice"), "one", "two", "three")
}

func TestOutboxWhileRelayDown(t *testing.T) {
	t.Parallel()
	r := startRelay(t)
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	send(t, alice, "bob", "before")
	r.Stop(t)

	ctx := context.Background()
	var ids []client.MessageID
	for _, s := range []string{"while down 1", "while down 2"} {
		id, err := alice.Send(ctx, "bob", s)
		wantErr(t, "Send while the relay is down", err, client.ErrUnreachable)
		if id == (client.MessageID{}) {
			t.Fatal("Send while down returned no ID: the message was not queued")
		}
		ids = append(ids, id)
	}
	h, _ := alice.History(ctx, "bob")
	if len(h) != 3 || h[1].Status != client.StatusQueued || h[2].Status != client.StatusQueued {
		t.Fatalf("history while down = %+v", h)
	}
	_, err := alice.Sync(ctx)
	wantErr(t, "Sync while the relay is down", err, client.ErrUnreachable)

	r.Restart(t)
	alice = reopen(t, alice) // the outbox survives a restart of the app too
	evs := syncNow(t, alice)
	wantTexts(t, "alice's sent events", texts(evs, client.EventSent), "while down 1", "while down 2")
	h, _ = alice.History(ctx, "bob")
	for _, m := range h {
		if m.Status != client.StatusSent {
			t.Errorf("after reconnecting, %q is %v", m.Text, m.Status)
		}
	}
	wantTexts(t, "bob's messages", texts(syncNow(t, bob), client.EventMessage), "before", "while down 1", "while down 2")
	hb, _ := bob.History(ctx, "alice")
	if hb[1].ID != ids[0] || hb[2].ID != ids[1] {
		t.Fatalf("bob's IDs differ from alice's")
	}
}

func TestWrongPIN(t *testing.T) {
	t.Parallel()
	r := startRelay(t)
	alice := register(t, r, "alice")
	alice.Close()
	ctx := context.Background()
	c := &client.Client{Home: alice.Home, WipeAfter: 10}
	err := c.Unlock(ctx, []byte("000000"))
	wantErr(t, "Unlock with a wrong PIN", err, client.ErrWrongPIN)
	var pe *client.PINError
	if !errors.As(err, &pe) || pe.Remaining != 9 {
		t.Fatalf("err = %#v, want a *PINError with 9 attempts left", err)
	}
	if _, err := c.Send(ctx, "bob", "x"); !errors.Is(err, client.ErrNotOpen) {
		t.Fatalf("Send after a wrong PIN: %v, want ErrNotOpen", err)
	}
	if err := c.Unlock(ctx, testPIN); err != nil {
		t.Fatalf("Unlock with the right PIN after a wrong one: %v", err)
	}
	if a, err := c.Address(); err != nil || a.String() != "alice/1" {
		t.Fatalf("Address = %v, %v", a, err)
	}
	c.Close()
	if err := (&client.Client{Home: t.TempDir()}).Unlock(ctx, testPIN); !errors.Is(err, client.ErrNoVault) {
		t.Fatalf("Unlock of an empty home: %v, want ErrNoVault", err)
	}
	if err := (&client.Client{Home: alice.Home}).Create(ctx, testPIN); !errors.Is(err, client.ErrExists) {
		t.Fatalf("Create over a vault: %v, want ErrExists", err)
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	r := startRelay(t)
	ctx := context.Background()
	alice := register(t, r, "alice")

	id, err := alice.Send(ctx, "nobody", "hello?")
	wantErr(t, "Send to an unknown user", err, client.ErrUnknownUser)
	if h, _ := alice.History(ctx, "nobody"); len(h) != 1 || h[0].ID != id || h[0].Status != client.StatusFailed {
		t.Fatalf("history of a failed message = %+v", h)
	}
	if evs := syncNow(t, alice); len(kinds(evs, client.EventSent)) != 0 {
		t.Fatalf("a failed message was retried: %+v", evs)
	}
	for _, bad := range []struct{ to, text string }{{"bob", ""}, {"Bob", "x"}, {"alice", "to myself"}, {"bob", "\xff"}} {
		if id, err := alice.Send(ctx, bad.to, bad.text); !errors.Is(err, client.ErrInvalid) || id != (client.MessageID{}) {
			t.Errorf("Send(%q, %q) = %v, %v; want ErrInvalid and no ID", bad.to, bad.text, id, err)
		}
	}

	other := newClient(t, r, "other")
	if _, err := other.Register(ctx, "alice", client.RegisterOptions{}); !errors.Is(err, client.ErrUserExists) {
		t.Fatalf("registering a taken name: %v, want ErrUserExists", err)
	}
	if _, err := other.Send(ctx, "alice", "x"); !errors.Is(err, client.ErrNotRegistered) {
		t.Fatalf("Send before Register: %v, want ErrNotRegistered", err)
	}
	if _, err := alice.Register(ctx, "alice", client.RegisterOptions{}); !errors.Is(err, client.ErrRegistered) {
		t.Fatalf("Register twice: %v, want ErrRegistered", err)
	}
	noServer := &client.Client{Home: t.TempDir() + "/x"}
	noServer.Create(ctx, testPIN)
	defer noServer.Close()
	if _, err := noServer.Register(ctx, "zed", client.RegisterOptions{}); !errors.Is(err, client.ErrNoServer) {
		t.Fatalf("Register without a server: %v, want ErrNoServer", err)
	}

	// A client that does not trust the relay's CA sends nothing.
	stranger := &client.Client{Home: t.TempDir() + "/s", Server: r.URL}
	stranger.Create(ctx, testPIN)
	defer stranger.Close()
	if _, err := stranger.Register(ctx, "stranger", client.RegisterOptions{}); !errors.Is(err, client.ErrUntrusted) {
		t.Fatalf("Register against an untrusted relay: %v, want ErrUntrusted", err)
	}
	plain := &client.Client{Home: t.TempDir() + "/p", Server: "http://" + r.Addr}
	plain.Create(ctx, testPIN)
	defer plain.Close()
	if _, err := plain.Register(ctx, "plain", client.RegisterOptions{}); !errors.Is(err, client.ErrBadConfig) {
		t.Fatalf("Register over http: %v, want ErrBadConfig", err)
	}
}

func TestPins(t *testing.T) {
	t.Parallel()
	r := startRelay(t)
	ctx := context.Background()
	backup := "sha256/" + base64.StdEncoding.EncodeToString(make([]byte, 32))
	pinned := &client.Client{Home: t.TempDir() + "/a", Server: r.URL, CAFile: r.CAFile, Pins: []string{r.CAPin(t), backup}}
	pinned.Create(ctx, testPIN)
	defer pinned.Close()
	if _, err := pinned.Register(ctx, "pinned", client.RegisterOptions{}); err != nil {
		t.Fatalf("Register with the CA's pin and a backup: %v", err)
	}
	pinned = reopen(t, pinned) // the pins were saved
	if _, err := pinned.Sync(ctx); err != nil {
		t.Fatalf("Sync with saved pins: %v", err)
	}
	wrong := &client.Client{Home: t.TempDir() + "/b", Server: r.URL, CAFile: r.CAFile,
		Pins: []string{backup, "sha256/" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))}}
	wrong.Create(ctx, testPIN)
	defer wrong.Close()
	if _, err := wrong.Register(ctx, "wrong", client.RegisterOptions{}); !errors.Is(err, client.ErrUntrusted) {
		t.Fatalf("Register with pins that match nothing: %v, want ErrUntrusted", err)
	}
}

// TestVaultFromANewerVersion: a vault whose database a newer build
// wrote is ErrVaultTooNew, not ErrCorrupt (which tells the app to start
// over), and the failed Unlock changes none of its files (it may leave
// vault.lock, the empty file whose flock serializes unlock attempts).
func TestVaultFromANewerVersion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := &client.Client{Home: filepath.Join(t.TempDir(), "home")}
	if err := c.Create(ctx, testPIN); err != nil {
		t.Fatal(err)
	}
	if err := client.StampVaultFromTheFuture(c); err != nil {
		t.Fatal(err)
	}
	c.Close()
	before := readFiles(t, c.Home)
	err := (&client.Client{Home: c.Home}).Unlock(ctx, testPIN)
	if !errors.Is(err, client.ErrVaultTooNew) || errors.Is(err, client.ErrCorrupt) {
		t.Fatalf("Unlock of a newer vault: %v, want ErrVaultTooNew and not ErrCorrupt", err)
	}
	after := readFiles(t, c.Home)
	if lock, ok := after["vault.lock"]; ok && len(lock) == 0 {
		delete(after, "vault.lock")
	}
	if !maps.EqualFunc(before, after, bytes.Equal) {
		t.Errorf("the failed Unlock changed the vault's files: %v before, %v after", slices.Sorted(maps.Keys(before)), slices.Sorted(maps.Keys(after)))
	}
}

// readFiles returns the contents of the regular files in dir, by name.
func readFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, e := range entries {
		if e.Type().IsRegular() {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			out[e.Name()] = b
		}
	}
	return out
}

// TestCorruptVault: a tampered or truncated vault file is ErrCorrupt,
// said once ("vault: vault:" never appears), and is not mistaken for a
// wrong PIN or a missing vault.
func TestCorruptVault(t *testing.T) {
	t.Parallel()
	for _, file := range []string{"vault.attempts", "vault.key"} {
		t.Run(file, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			c := &client.Client{Home: filepath.Join(t.TempDir(), "home")}
			if err := c.Create(ctx, testPIN); err != nil {
				t.Fatal(err)
			}
			c.Close()
			path := filepath.Join(c.Home, file)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, b[:len(b)-1], 0o600); err != nil {
				t.Fatal(err)
			}
			err = (&client.Client{Home: c.Home}).Unlock(ctx, testPIN)
			if !errors.Is(err, client.ErrCorrupt) || errors.Is(err, client.ErrWrongPIN) || errors.Is(err, client.ErrNoVault) {
				t.Fatalf("Unlock with a truncated %s: %v, want ErrCorrupt", file, err)
			}
			if strings.Count(err.Error(), "vault:") > 1 || strings.Contains(err.Error(), "client: vault: vault") {
				t.Errorf("error repeats its prefix: %q", err)
			}
		})
	}
}
