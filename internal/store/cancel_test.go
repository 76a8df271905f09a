package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"parley.dev/internal/addr"
	"parley.dev/internal/store"
)

// TestCancelledCallerDoesNotRace: a caller whose context ends while the
// writer runs its operation returns at once; the operation's results,
// which the writer may still be filling in, must not be read then. Run
// with -race (the relay cancels a request's context when its client
// disconnects, as a failing "parley bench" setup does).
func TestCancelledCallerDoesNotRace(t *testing.T) {
	s, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "c.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	u := addr.UserID("carol")
	if err := s.CreateUser(t.Context(), store.User{ID: u, Identity: []byte("identity")}); err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		ctx, cancel := context.WithCancel(t.Context())
		go func() {
			time.Sleep(time.Duration(i%20) * 10 * time.Microsecond)
			cancel()
		}()
		s.AddDevice(ctx, store.Device{Address: addr.Address{User: u}, Key: []byte("key"), Cert: []byte("cert")})
		s.TakeBundle(ctx, addr.Address{User: u, Device: 1})
		s.ReplaceIdentity(ctx, store.User{ID: u, Identity: []byte("identity")})
		dave := addr.UserID(fmt.Sprintf("dave%d", i))
		s.Register(ctx, store.Registration{User: store.User{ID: dave, Identity: []byte("identity")},
			Device: store.Device{Key: []byte("key"), Cert: []byte("cert")}})
		cancel()
	}
}
