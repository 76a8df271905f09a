// Package storetest is the conformance suite for store.Store: every
// implementation runs Run and must pass all of it.
//
//	func TestSQLite(t *testing.T) {
//		storetest.Run(t, func(t *testing.T, key string, opt store.Options) store.Store {
//			s, err := store.Open(t.Context(), filepath.Join(dir, key+".db"), opt)
//			...
//		})
//	}
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"parley.dev/internal/addr"
	"parley.dev/internal/store"
)

// Opener opens the store under test. key names a database: the first open
// of a key finds it empty, and opening the same key again (after Close)
// reopens the same database, which the restart tests rely on. Keys are
// lowercase letters, digits and '_', start with a letter, are at most 40
// bytes, and are unique within one process. The suite closes every store
// it opens.
type Opener func(t *testing.T, key string, opt store.Options) store.Store

// Run runs the whole suite against open.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(*testing.T, *env)
	}{
		{"Users", testUsers},
		{"Devices", testDevices},
		{"DeviceLimit", testDeviceLimit},
		{"ReplaceIdentity", testReplaceIdentity},
		{"Tokens", testTokens},
		{"Register", testRegister},
		{"RegisterChangesNothingOnFailure", testRegisterChangesNothingOnFailure},
		{"RegisterConcurrent", testRegisterConcurrent},
		{"SharedKey", testSharedKey},
		{"UseChallenge", testUseChallenge},
		{"PreKeys", testPreKeys},
		{"PreKeyLimits", testPreKeyLimits},
		{"PreKeysBadInput", testPreKeysBadInput},
		{"TakeBundleConcurrent", testTakeBundleConcurrent},
		{"Submit", testSubmit},
		{"SubmitIdempotent", testSubmitIdempotent},
		{"SubmitUnknownDevice", testSubmitUnknownDevice},
		{"SubmitBadInput", testSubmitBadInput},
		{"MailboxCap", testMailboxCap},
		{"Pending", testPending},
		{"Ack", testAck},
		{"SeqNeverReused", testSeqNeverReused},
		{"SubmitBesideKeyWrites", testSubmitBesideKeyWrites},
		{"GroupEnvelopes", testGroupEnvelopes},
		{"GroupMailboxCap", testGroupMailboxCap},
		{"GroupExpireLimit", testGroupExpireLimit},
		{"Expire", testExpire},
		{"ExpireNotices", testExpireNotices},
		{"ExpireLimit", testExpireLimit},
		{"Revoke", testRevoke},
		{"Restart", testRestart},
		{"ConcurrentSubmit", testConcurrentSubmit},
		{"CloseDrains", testCloseDrains},
		{"Closed", testClosed},
		{"Canceled", testCanceled},
		{"UnlockEnrol", testUnlockEnrol},
		{"UnlockLimit", testUnlockLimit},
		{"UnlockCounter", testUnlockCounter},
		{"UnlockConcurrentCount", testUnlockConcurrentCount},
		{"UnlockRetireAndSweep", testUnlockRetireAndSweep},
		{"UnlockGoesWithDevice", testUnlockGoesWithDevice},
		{"PushTokens", testPushTokens},
		{"PushWindow", testPushWindow},
		{"PushClaimConcurrent", testPushClaimConcurrent},
		{"PushGoesWithDevice", testPushGoesWithDevice},
		{"AuditChain", testAuditChain},
		{"AuditConcurrent", testAuditConcurrent},
		{"AuditPrune", testAuditPrune},
		{"Suspend", testSuspend},
		{"UsersAndTouch", testUsersAndTouch},
		{"DeleteUser", testDeleteUser},
		{"Policy", testPolicy},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newEnv(t, open))
		})
	}
}

// runID keeps keys unique across the suite runs of one process.
var (
	runID   = randomHex(6)
	counter atomic.Int64
)

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return fmt.Sprintf("%x", b)
}

// Epoch is the fake clock's start: a fixed instant with whole microseconds,
// so stored times compare exactly.
var Epoch = time.Date(2030, 1, 2, 3, 4, 5, 6000, time.UTC)

// Clock is a settable clock for store.Options.Now. Safe for concurrent
// use; its zero value is not usable (see NewClock).
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock set to t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is one test's store, clock and helpers.
type env struct {
	t     *testing.T
	open  Opener
	key   string
	opt   store.Options
	clock *Clock
	s     store.Store
	ctx   context.Context
}

func newEnv(t *testing.T, open Opener) *env {
	e := &env{t: t, open: open, clock: NewClock(Epoch), ctx: t.Context()}
	e.key = fmt.Sprintf("st_%s_%d", runID, counter.Add(1))
	e.opt = store.Options{Now: e.clock.Now}
	e.s = e.reopen()
	return e
}

// reopen closes the current store, if any, and opens the database again
// with e.opt.
func (e *env) reopen() store.Store {
	e.t.Helper()
	if e.s != nil {
		if err := e.s.Close(); err != nil {
			e.t.Fatalf("Close: %v", err)
		}
	}
	s := e.open(e.t, e.key, e.opt)
	e.t.Cleanup(func() { s.Close() })
	e.s = s
	return s
}

// withOptions reopens the database with changed options.
func (e *env) withOptions(f func(*store.Options)) {
	e.t.Helper()
	f(&e.opt)
	e.reopen()
}

// user creates a user with one device and returns its address.
func (e *env) user(id addr.UserID) addr.Address {
	e.t.Helper()
	if err := e.s.CreateUser(e.ctx, store.User{ID: id, Identity: []byte("identity of " + id)}); err != nil {
		e.t.Fatalf("CreateUser(%s): %v", id, err)
	}
	return e.device(id)
}

// device adds a device to an existing user.
func (e *env) device(id addr.UserID) addr.Address {
	e.t.Helper()
	dev, err := e.s.AddDevice(e.ctx, store.Device{
		Address: addr.Address{User: id}, Key: []byte("key"), Cert: []byte("cert"),
	})
	if err != nil {
		e.t.Fatalf("AddDevice(%s): %v", id, err)
	}
	return addr.Address{User: id, Device: dev}
}

// msg returns a message envelope with a fresh ID and the clock's defaults.
func msg(from, to addr.Address, payload string) store.Envelope {
	return store.Envelope{From: from, To: to, ID: addr.NewMessageID(), Payload: []byte(payload)}
}

// submit submits envs and fails the test on a call error.
func (e *env) submit(envs ...store.Envelope) []store.SubmitResult {
	e.t.Helper()
	res, err := e.s.Submit(e.ctx, envs)
	if err != nil {
		e.t.Fatalf("Submit: %v", err)
	}
	if len(res) != len(envs) {
		e.t.Fatalf("Submit returned %d results for %d envelopes", len(res), len(envs))
	}
	return res
}

// stored submits envs, requiring each to be newly stored, and returns
// their seqs.
func (e *env) stored(envs ...store.Envelope) []int64 {
	e.t.Helper()
	var seqs []int64
	for i, r := range e.submit(envs...) {
		if r.Err != nil || r.Duplicate || r.Seq <= 0 {
			e.t.Fatalf("envelope %d: result %+v, want newly stored", i, r)
		}
		seqs = append(seqs, r.Seq)
	}
	return seqs
}

// pending returns a mailbox's whole pending list.
func (e *env) pending(a addr.Address) []store.Envelope {
	e.t.Helper()
	envs, err := e.s.Pending(e.ctx, a, 0, store.MaxBatch)
	if err != nil {
		e.t.Fatalf("Pending(%s): %v", a, err)
	}
	return envs
}

func (e *env) mailboxLen(a addr.Address) int {
	e.t.Helper()
	n, err := e.s.MailboxLen(e.ctx, a)
	if err != nil {
		e.t.Fatalf("MailboxLen(%s): %v", a, err)
	}
	return n
}

// wantErr fails unless err wraps want.
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: err = %v, want %v", what, err, want)
	}
}

// sameEnvelope fails unless got matches want in every field a store keeps.
func sameEnvelope(t *testing.T, got, want store.Envelope) {
	t.Helper()
	if got.To != want.To || got.From != want.From || got.ID != want.ID || got.Kind != want.Kind ||
		!got.Created.Equal(want.Created) || !got.Expires.Equal(want.Expires) ||
		!bytes.Equal(got.Payload, want.Payload) {
		t.Fatalf("envelope = %+v\nwant %+v", brief(got), brief(want))
	}
}

// brief is an envelope without its payload, for messages.
func brief(e store.Envelope) store.Envelope {
	e.Payload = []byte(fmt.Sprintf("<%d bytes>", len(e.Payload)))
	return e
}
