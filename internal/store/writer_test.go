package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"testing/synctest"
)

// TestAbandonedWriteNeverRunsLate: a write whose caller's context ends is
// either never run (do returns the context's error) or, once the writer
// runs it, waited for (do returns its outcome): a write never sets the
// caller's variables after do has returned.
func TestAbandonedWriteNeverRunsLate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, err := Open(context.Background(), filepath.Join(t.TempDir(), "p.db"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		w := s.(*sqlStore).w

		// cancelled while running: do waits for the run
		started, release := make(chan struct{}), make(chan struct{})
		ctx, cancel := context.WithCancel(context.Background())
		var out int
		done := make(chan error, 1)
		go func() {
			done <- w.do(ctx, "", false, 1, func(*txn) error {
				close(started)
				<-release
				out = 42
				return nil
			})
		}()
		<-started
		cancel()
		synctest.Wait()
		early := len(done) > 0
		close(release)
		err = <-done
		if early {
			t.Fatal("do returned while its write was running")
		}
		if err != nil || out != 42 {
			t.Fatalf("do = %v, out %d: want the run's outcome", err, out)
		}

		// cancelled while queued behind another: never runs
		started, release = make(chan struct{}), make(chan struct{})
		go w.do(context.Background(), "", false, 1, func(*txn) error { close(started); <-release; return nil })
		<-started
		ctx, cancel = context.WithCancel(context.Background())
		ran := false
		go func() {
			done <- w.do(ctx, "", false, 1, func(*txn) error { ran = true; return nil })
		}()
		synctest.Wait()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("do of a queued write whose context ended: %v", err)
		}
		close(release)
		if err := w.do(context.Background(), "", false, 1, func(*txn) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if ran {
			t.Fatal("an abandoned write ran after do returned")
		}
	})
}
