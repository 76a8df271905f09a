package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"parley.dev/internal/addr"
)

// Tests of a writer transaction's counter cache, with ops placed in one
// batch on purpose (the public API cannot force two ops into one).

// newSQLiteForTest opens a fresh SQLite store and returns it with its writer.
func newSQLiteForTest(t *testing.T) (*sqlStore, *writer) {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "s.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	st := s.(*sqlStore)
	return st, st.w.ws[0]
}

// testDevice creates user u with one device.
func testDevice(t *testing.T, s Store, u addr.UserID) addr.Address {
	t.Helper()
	ctx := context.Background()
	if err := s.CreateUser(ctx, User{ID: u, Identity: []byte("identity")}); err != nil {
		t.Fatal(err)
	}
	dev, err := s.AddDevice(ctx, Device{Address: addr.Address{User: u}, Key: []byte("key"), Cert: []byte("cert")})
	if err != nil {
		t.Fatal(err)
	}
	return addr.Address{User: u, Device: dev}
}

// testEnvelopes returns one envelope from from to to, normalized as
// Submit would, for a writer op to queue.
func testEnvelopes(t *testing.T, from, to addr.Address) []Envelope {
	t.Helper()
	e := Envelope{To: to, From: from, ID: addr.NewMessageID(), Kind: KindMessage, Payload: []byte("ciphertext")}
	if err := normalize(&e, time.Now(), DefaultTTL); err != nil {
		t.Fatal(err)
	}
	return []Envelope{e}
}

// wantNextSeq submits one envelope and fails unless it gets Seq want.
func wantNextSeq(t *testing.T, s Store, from, to addr.Address, want int64) {
	t.Helper()
	res, err := s.Submit(context.Background(), testEnvelopes(t, from, to))
	if err != nil || res[0].Err != nil || res[0].Seq != want {
		t.Fatalf("next submission: %v, %+v; want Seq %d", err, res, want)
	}
}

// TestMailboxAfterQueuedSubmit: an op that reads a mailbox's counters
// (TakeBundle, PutPreKeys) in the same transaction as a submission queued
// to that mailbox must see, and keep, the counters the submission
// advanced. Before the fix the read settled the submission and then
// cached the counters it read from the table, which the submission had
// not saved yet: the advanced Seq was lost, and the mailbox's next
// submission collided with the envelope stored under it.
func TestMailboxAfterQueuedSubmit(t *testing.T) {
	s, w := newSQLiteForTest(t)
	bob, alice := testDevice(t, s, "bob"), testDevice(t, s, "alice")
	res := make([]SubmitResult, 1)
	err := w.do(context.Background(), true, 2, func(tx *txn) error {
		tx.submit(testEnvelopes(t, alice, bob), res)
		m, err := tx.mailbox(bob)
		if err != nil {
			return err
		}
		if m.lastSeq != 1 {
			t.Errorf("mailbox read after a queued submission: last Seq %d, want 1", m.lastSeq)
		}
		return nil
	})
	if err != nil || res[0].Err != nil || res[0].Seq != 1 {
		t.Fatalf("batch: %v, %+v", err, res[0])
	}
	wantNextSeq(t, s, alice, bob, 2)
}

// TestRevokeBesideQueuedSubmit: revoking one of a user's devices in the
// same transaction as a submission to another of them keeps the other
// mailbox's advanced counters (revocation once dropped the cached
// counters of all the user's mailboxes).
func TestRevokeBesideQueuedSubmit(t *testing.T) {
	s, w := newSQLiteForTest(t)
	ctx := context.Background()
	phone := testDevice(t, s, "bob")
	laptop, err := s.AddDevice(ctx, Device{Address: addr.Address{User: "bob"}, Key: []byte("key 2"), Cert: []byte("cert 2")})
	if err != nil {
		t.Fatal(err)
	}
	alice := testDevice(t, s, "alice")
	res := make([]SubmitResult, 1)
	err = w.do(ctx, true, 2, func(tx *txn) error {
		tx.submit(testEnvelopes(t, alice, phone), res)
		return revokeDevice(tx, addr.Address{User: "bob", Device: laptop})
	})
	if err != nil || res[0].Err != nil || res[0].Seq != 1 {
		t.Fatalf("batch: %v, %+v", err, res[0])
	}
	wantNextSeq(t, s, alice, phone, 2)
}

// TestAddDeviceBesideQueuedSubmit: a device added in the same
// transaction as a submission that found it missing takes submissions
// after it (the cached "gone" is dropped).
func TestAddDeviceBesideQueuedSubmit(t *testing.T) {
	s, w := newSQLiteForTest(t)
	testDevice(t, s, "bob")
	alice := testDevice(t, s, "alice")
	laptop := addr.Address{User: "bob", Device: 2}
	res := make([]SubmitResult, 2)
	err := w.do(context.Background(), true, 2, func(tx *txn) error {
		tx.submit(testEnvelopes(t, alice, laptop), res[:1])
		id, err := addDevice(tx, Device{Address: addr.Address{User: "bob"}, Key: []byte("k"), Cert: []byte("c")}, time.Now())
		if err != nil || id != laptop.Device {
			t.Fatalf("addDevice = %v, %v", id, err)
		}
		tx.submit(testEnvelopes(t, alice, laptop), res[1:])
		return nil
	})
	if err != nil || !errors.Is(res[0].Err, ErrNotFound) || res[1].Err != nil || res[1].Seq != 1 {
		t.Fatalf("batch: %v; before the device %+v, after it %+v", err, res[0], res[1])
	}
}
