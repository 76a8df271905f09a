package client

import (
	"context"
	"errors"
	"fmt"

	"parley.dev/client/internal/relay"
	"parley.dev/internal/wire"
)

// testHooks let this package's tests play a misbehaving relay or a
// crashing app. Production code never sets them (Client.hooks is nil).
type testHooks struct {
	// submit replaces the relay for outgoing envelopes when set.
	submit func([]*wire.Submit) []*wire.SubmitResult
	// dropAcks stores deliveries without acknowledging them, as if the
	// app died right after each commit.
	dropAcks bool
	// failStores makes this many next stores fail inside their
	// transaction, as if the app died before the commit.
	failStores int
	// crashAfterStores makes this many next stores fail right after
	// their commit, as if the app died then: no event, no ack.
	crashAfterStores int
	// crashAt makes the named step of a factor change (crash* below)
	// return errTestCrash, as if the app died there.
	crashAt string
	// sealedBursts counts the bursts SendMany sent by its sealed path.
	sealedBursts int
	// beforeGroupSubmit runs before the flush submits a sealed group item.
	beforeGroupSubmit func()
	// beforeSaveUpload runs before an upload stores its new blob.
	beforeSaveUpload func()
}

// runHook runs the test hook that pick returns, if one is set.
func (c *Client) runHook(pick func(*testHooks) func()) {
	c.mu.Lock()
	var f func()
	if c.hooks != nil {
		f = pick(c.hooks)
	}
	c.mu.Unlock()
	if f != nil {
		f()
	}
}

// noteSealedBurst counts a burst of the sealed path for tests.
func (c *Client) noteSealedBurst() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hooks != nil {
		c.hooks.sealedBursts++
	}
}

// The steps of a factor change (SetFactors, ChangePIN) a test can crash at.
const (
	crashCredentialAdded = "credential-added" // the new credential is in the file
	crashEnrolled        = "enrolled"         // the relay holds the new key; the header is old
	crashRekeyed         = "rekeyed"          // the new header is written; nothing retired
	crashRetired         = "retired"          // the relay retired the old key; the file still has it
)

// crash returns errTestCrash at the step a test chose.
func (h *testHooks) crash(step string) error {
	if h == nil || h.crashAt != step {
		return nil
	}
	return fmt.Errorf("%w at %s", errTestCrash, step)
}

var errTestCrash = errors.New("client: test hook: simulated crash")

// submitVia sends envelopes over conn, or to the test hook.
func (c *Client) submitVia(ctx context.Context, conn *relay.Conn, subs []*wire.Submit) ([]*wire.SubmitResult, error) {
	if c.hooks != nil && c.hooks.submit != nil {
		return c.hooks.submit(subs), nil
	}
	return conn.Submit(ctx, subs)
}

// crashBeforeCommit reports whether a test wants this store to fail.
func (c *Client) crashBeforeCommit() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hooks == nil || c.hooks.failStores == 0 {
		return false
	}
	c.hooks.failStores--
	return true
}

func (c *Client) acksDropped() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hooks != nil && c.hooks.dropAcks
}

// crashAfterCommit reports whether a test wants this store to end as if
// the app died right after its commit.
func (c *Client) crashAfterCommit() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hooks == nil || c.hooks.crashAfterStores == 0 {
		return false
	}
	c.hooks.crashAfterStores--
	return true
}
