package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"parley.dev/internal/addr"
)

// TestMailboxAfterQueuedSubmit: an op that reads a mailbox's counters
// (TakeBundle, PutPreKeys) in the same transaction as a submission queued
// to that mailbox must see, and keep, the counters the submission
// advanced. Before the fix the read settled the submission and then
// cached the counters it read from the table, which the submission had
// not saved yet: the advanced Seq was lost, and the mailbox's next
// submission collided with the envelope stored under it.
func TestMailboxAfterQueuedSubmit(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "m.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	bob := testDevice(t, s, "bob")
	alice := testDevice(t, s, "alice")
	env := func(id byte) Envelope {
		e := Envelope{To: bob, From: alice, Kind: KindMessage, Payload: []byte("ciphertext")}
		e.ID[0] = id
		if err := normalize(&e, time.Now(), DefaultTTL); err != nil {
			t.Fatal(err)
		}
		return e
	}
	first := []Envelope{env(1)}
	res := make([]SubmitResult, 1)
	err = s.(*sqlStore).w.do(ctx, "", true, 2, func(tx *txn) error {
		tx.submit(first, res)
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
	next, err := s.Submit(ctx, []Envelope{env(2)})
	if err != nil || next[0].Err != nil || next[0].Seq != 2 {
		t.Fatalf("next submission: %v, %+v; want Seq 2", err, next)
	}
}

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

// TestRevokeBesideQueuedSubmit: revoking one of a user's devices in the
// same transaction as a submission to another of them keeps the other
// mailbox's advanced counters (revocation once dropped the cached
// counters of all the user's mailboxes).
func TestRevokeBesideQueuedSubmit(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "r.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	phone := testDevice(t, s, "bob")
	laptop, err := s.AddDevice(ctx, Device{Address: addr.Address{User: "bob"}, Key: []byte("key 2"), Cert: []byte("cert 2")})
	if err != nil {
		t.Fatal(err)
	}
	alice := testDevice(t, s, "alice")
	env := func(id byte) Envelope {
		e := Envelope{To: phone, From: alice, Kind: KindMessage, Payload: []byte("ciphertext")}
		e.ID[0] = id
		if err := normalize(&e, time.Now(), DefaultTTL); err != nil {
			t.Fatal(err)
		}
		return e
	}
	first := []Envelope{env(1)}
	res := make([]SubmitResult, 1)
	err = s.(*sqlStore).w.do(ctx, "", true, 2, func(tx *txn) error {
		tx.submit(first, res)
		return revokeDevice(tx, addr.Address{User: "bob", Device: laptop})
	})
	if err != nil || res[0].Err != nil || res[0].Seq != 1 {
		t.Fatalf("batch: %v, %+v", err, res[0])
	}
	next, err := s.Submit(ctx, []Envelope{env(2)})
	if err != nil || next[0].Err != nil || next[0].Seq != 2 {
		t.Fatalf("next submission: %v, %+v; want Seq 2", err, next)
	}
}

// TestAddDeviceBesideQueuedSubmit: a device added in the same
// transaction as a submission that found it missing takes submissions
// after it (the cached "gone" is dropped).
func TestAddDeviceBesideQueuedSubmit(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "a.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	testDevice(t, s, "bob")
	alice := testDevice(t, s, "alice")
	laptop := addr.Address{User: "bob", Device: 2}
	env := func(id byte) []Envelope {
		e := Envelope{To: laptop, From: alice, Kind: KindMessage, Payload: []byte("ciphertext")}
		e.ID[0] = id
		if err := normalize(&e, time.Now(), DefaultTTL); err != nil {
			t.Fatal(err)
		}
		return []Envelope{e}
	}
	early, late := env(1), env(2)
	res := make([]SubmitResult, 2)
	err = s.(*sqlStore).w.do(ctx, "", true, 2, func(tx *txn) error {
		tx.submit(early, res[:1])
		id, err := addDevice(tx, Device{Address: addr.Address{User: "bob"}, Key: []byte("k"), Cert: []byte("c")}, time.Now())
		if err != nil || id != laptop.Device {
			t.Fatalf("addDevice = %v, %v", id, err)
		}
		tx.submit(late, res[1:])
		return nil
	})
	if err != nil || !errors.Is(res[0].Err, ErrNotFound) || res[1].Err != nil || res[1].Seq != 1 {
		t.Fatalf("batch: %v; before the device %+v, after it %+v", err, res[0], res[1])
	}
}
