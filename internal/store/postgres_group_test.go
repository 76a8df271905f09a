package store_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"parley.dev/internal/addr"
	"parley.dev/internal/pgtest"
	"parley.dev/internal/store"
)

// TestPostgresGroupAcrossNodes: the same group message submitted at once
// through two relay nodes' stores (as a client resubmits after its node
// died, while the first submission is still committing) is stored once
// per recipient device, whatever the interleaving.
func TestPostgresGroupAcrossNodes(t *testing.T) {
	dsn, _ := pgtest.Schema(t)
	var nodes [2]store.Store
	for i := range nodes {
		s, err := store.Open(t.Context(), dsn, store.Options{Writers: 2})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		nodes[i] = s
	}
	device := func(user string) addr.Address {
		u := addr.UserID(user)
		if err := nodes[0].CreateUser(t.Context(), store.User{ID: u, Identity: []byte("id")}); err != nil {
			t.Fatal(err)
		}
		d, err := nodes[0].AddDevice(t.Context(), store.Device{Address: addr.Address{User: u}, Key: []byte("k"), Cert: []byte("c")})
		if err != nil {
			t.Fatal(err)
		}
		return addr.Address{User: u, Device: d}
	}
	from := device("sender")
	var to []addr.Address
	for i := range 16 {
		to = append(to, device(fmt.Sprint("member", i)))
	}
	for round := range 10 {
		id := addr.NewMessageID()
		envs := make([]store.Envelope, len(to))
		for i, a := range to {
			envs[i] = store.Envelope{From: from, To: a, ID: id, Kind: store.KindGroup, Payload: []byte("group"),
				Expires: time.Now().Add(time.Hour)}
		}
		var wg sync.WaitGroup
		for i := range 6 {
			wg.Go(func() {
				if _, err := nodes[i%2].Submit(t.Context(), envs); err != nil {
					t.Errorf("round %d submission %d: %v", round, i, err)
				}
			})
		}
		wg.Wait()
		for _, a := range to {
			got, err := nodes[1].Pending(t.Context(), a, 0, store.MaxBatch)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, e := range got {
				if e.ID == id {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("round %d: %s holds %d copies of the message", round, a, n)
			}
		}
	}
}
