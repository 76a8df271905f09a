package client

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Transfers of attachments (uploads, downloads) run in the caller's
// goroutine (SendFile, Download, Sync) or, while Listen runs, in its
// transfer worker, which resumes interrupted uploads and fetches the
// attachments below AutoDownload without holding up the messages that
// arrive meanwhile. One attachment has one transfer at a time: each holds
// its message ID's lock (transferLocks) while it runs; the worker and Sync
// skip an attachment whose transfer runs elsewhere, SendFile and Download
// wait for it.

// retryWait is the pause before another attempt of a transfer whose last
// attempt moved bytes before the network dropped.
const retryWait = time.Second

// transferLocks are the per-attachment locks. The zero value is ready.
type transferLocks struct {
	mu   sync.Mutex
	held map[string]chan struct{} // closed when released
}

// lock waits for id's lock, or for ctx to end.
func (l *transferLocks) lock(ctx context.Context, id string) (unlock func(), err error) {
	for {
		unlock, busy := l.tryLock(id)
		if unlock != nil {
			return unlock, nil
		}
		select {
		case <-busy:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// tryLock takes id's lock if it is free (unlock is then non-nil), else
// returns a channel closed when it is released.
func (l *transferLocks) tryLock(id string) (unlock func(), busy <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ch, ok := l.held[id]; ok {
		return nil, ch
	}
	if l.held == nil {
		l.held = make(map[string]chan struct{})
	}
	ch := make(chan struct{})
	l.held[id] = ch
	return func() {
		l.mu.Lock()
		delete(l.held, id)
		l.mu.Unlock()
		close(ch)
	}, nil
}

// retry runs attempt until it succeeds, fails for good, or fails without
// having moved any byte: a transfer retries after a network drop as long
// as it makes progress, and otherwise leaves the rest for the next Sync or
// Listen (after a restart too) instead of waiting for a network that is
// not there. attempt reports whether it moved bytes.
func retry(ctx context.Context, attempt func() (progressed bool, err error)) error {
	for {
		progressed, err := attempt()
		if err == nil || !errors.Is(err, ErrUnreachable) || !progressed || ctx.Err() != nil {
			return err
		}
		if err := sleepCtx(ctx, retryWait); err != nil {
			return err
		}
	}
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// startTransfers runs Listen's transfer worker until the returned stop is
// called: it resumes uploads and fetches automatic downloads each time
// wakeTransfers is called (at every connection, and when a message brings
// an attachment to download).
func (c *Client) startTransfers(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	wake := make(chan struct{}, 1)
	c.mu.Lock()
	c.transferWake = wake
	c.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-wake:
			}
			c.transferRound(ctx)
		}
	}()
	return func() {
		c.mu.Lock()
		c.transferWake = nil
		c.mu.Unlock()
		cancel()
		<-done
	}
}

// wakeTransfers asks Listen's transfer worker for a round, and reports
// whether one runs.
func (c *Client) wakeTransfers() bool {
	c.mu.Lock()
	wake := c.transferWake
	c.mu.Unlock()
	if wake == nil {
		return false
	}
	select {
	case wake <- struct{}{}:
	default: // a round is already due
	}
	return true
}

// transferRound resumes the uploads (then sends the messages of those
// that finished) and fetches the automatic downloads.
func (c *Client) transferRound(ctx context.Context) {
	finished, err := c.runUploads(ctx)
	if err != nil && ctx.Err() == nil {
		c.emitEvent(Event{Kind: EventError, Err: err})
	}
	if finished > 0 {
		errs, err := c.flushNow(ctx)
		c.reportFlush(errs)
		if err != nil && ctx.Err() == nil {
			c.log.Info("outbox waits for the next connection", "err", err)
		}
	}
	c.autoDownload(ctx)
}
