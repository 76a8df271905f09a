package client

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// TestTransferLocks: one transfer per attachment: a second is refused by
// tryLock and waits in lock (until the first ends, or its context does);
// other attachments are independent.
func TestTransferLocks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var l transferLocks
		unlock, _ := l.tryLock("a")
		if unlock == nil {
			t.Fatal("a free lock was refused")
		}
		if u, busy := l.tryLock("a"); u != nil || busy == nil {
			t.Fatal("a held lock was given twice")
		}
		if u, _ := l.tryLock("b"); u == nil {
			t.Fatal("another attachment's lock is held up")
		} else {
			u()
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := l.lock(ctx, "a"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("lock of a held lock with an ending context: %v", err)
		}
		got := make(chan func(), 1)
		go func() {
			u, err := l.lock(context.Background(), "a")
			if err != nil {
				t.Error(err)
			}
			got <- u
		}()
		synctest.Wait()
		if len(got) > 0 {
			t.Fatal("lock did not wait for the holder")
		}
		unlock()
		(<-got)()
		if u, _ := l.tryLock("a"); u == nil {
			t.Fatal("the lock is not free after both released it")
		}
	})
}
