package client_test

import (
	"context"
	"path/filepath"
	"testing"

	"parley.dev/client"
	"parley.dev/server/servertest"
)

// benchClient registers a device for a benchmark.
func benchClient(b *testing.B, r *servertest.Relay, user string) *client.Client {
	b.Helper()
	ctx := context.Background()
	c := &client.Client{Home: filepath.Join(b.TempDir(), user), Server: r.URL, CAFile: r.CAFile}
	client.SetOneTimePreKeys(c, testOneTimePreKeys)
	if err := c.Create(ctx, testPIN); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	if _, err := c.Register(ctx, user, client.RegisterOptions{}); err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkSend measures one Send of a short text to a user with one
// device, sessions established, without Listen: store, dial the relay,
// list both users' devices, encrypt, save, submit, wait for the relay.
func BenchmarkSend(b *testing.B) {
	r := servertest.Start(b, generous)
	alice, bob := benchClient(b, r, "alice"), benchClient(b, r, "bob")
	ctx := context.Background()
	if _, err := alice.Send(ctx, "bob", "warm up"); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := alice.Send(ctx, "bob", "hello, this is a benchmark message"); err != nil {
			b.Fatal(err)
		}
	}
	_ = bob
}

// BenchmarkSyncReceive measures receiving queued messages with Sync:
// decrypt, store with the session state, acknowledge. One op is one
// message; each Sync drains 100.
func BenchmarkSyncReceive(b *testing.B) {
	r := servertest.Start(b, generous)
	alice, bob := benchClient(b, r, "alice"), benchClient(b, r, "bob")
	ctx := context.Background()
	const batch = 100
	b.ResetTimer()
	for n := 0; n < b.N; n += batch {
		b.StopTimer()
		client.InterceptSubmits(alice, nil)
		for range batch {
			if _, err := alice.Send(ctx, "bob", "hello, this is a benchmark message"); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		evs, err := bob.Sync(ctx)
		if err != nil || len(evs) < batch {
			b.Fatalf("Sync: %d events, %v", len(evs), err)
		}
	}
}
