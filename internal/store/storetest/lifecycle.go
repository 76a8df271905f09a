package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"parley.dev/internal/addr"
	"parley.dev/internal/store"
)

// testRestart closes the store and reopens the same database: everything
// acknowledged before Close is there, and counters carry on.
func testRestart(t *testing.T, e *env) {
	ctx := e.ctx
	alice, bob := e.user("alice"), e.user("bob")
	alice2 := e.device("alice")
	putKeys(t, e, bob, 3, 3)
	if _, err := e.s.TakeBundle(ctx, bob); err != nil {
		t.Fatal(err)
	}
	envs := []store.Envelope{msg(alice, bob, "one"), msg(alice2, bob, "two"), msg(alice, bob, "three")}
	seqs := e.stored(envs...)
	if _, err := e.s.Ack(ctx, bob, seqs[:1]); err != nil {
		t.Fatal(err)
	}
	hash := sha256.Sum256([]byte("token"))
	if err := e.s.UseToken(ctx, hash, Epoch.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := e.s.RevokeDevice(ctx, alice2); err != nil {
		t.Fatal(err)
	}

	s := e.reopen()
	if u, err := s.User(ctx, "alice"); err != nil || string(u.Identity) != "identity of alice" {
		t.Fatalf("User after restart = %+v, %v", u, err)
	}
	if ds, err := s.Devices(ctx, "alice"); err != nil || len(ds) != 1 || ds[0].Address != alice {
		t.Fatalf("Devices after restart = %v, %v", ds, err)
	}
	got := e.pending(bob)
	if len(got) != 2 {
		t.Fatalf("after restart bob has %d envelopes, want 2", len(got))
	}
	for i, want := range envs[1:] {
		want.Kind, want.Created, want.Expires = store.KindMessage, Epoch, Epoch.Add(store.DefaultTTL)
		sameEnvelope(t, got[i], want)
		if got[i].Seq != seqs[i+1] {
			t.Fatalf("Seq changed across restart: %d, was %d", got[i].Seq, seqs[i+1])
		}
	}
	if n := e.mailboxLen(bob); n != 2 {
		t.Fatalf("MailboxLen after restart = %d", n)
	}
	if c := e.counts(bob); c != (store.PreKeyCounts{OneTimeEC: 2, OneTimeKEM: 2}) {
		t.Fatalf("prekey counts after restart = %+v", c)
	}
	if b, err := s.TakeBundle(ctx, bob); err != nil || b.OneTimeEC == nil || b.OneTimeEC.ID != 2 || b.KEM.ID != 2 {
		t.Fatalf("TakeBundle after restart = %+v, %v; want keys 2", b, err)
	}
	wantErr(t, "UseToken after restart", s.UseToken(ctx, hash, Epoch.Add(time.Hour)), store.ErrTokenUsed)
	if d := e.device("alice"); d.Device != 3 {
		t.Fatalf("device ID after restart = %d, want 3", d.Device)
	}
	if seq := e.stored(msg(alice, bob, "four"))[0]; seq <= seqs[2] {
		t.Fatalf("Seq %d after restart, not above %d", seq, seqs[2])
	}
}

// testConcurrentSubmit has many goroutines submit (and readers read) at
// once; after a restart every acknowledged envelope is present exactly
// once, with the Seq it was given.
func testConcurrentSubmit(t *testing.T, e *env) {
	const writers, perWriter, boxes = 16, 20, 4
	sender := e.user("sender")
	var mboxes []addr.Address
	for i := range boxes {
		mboxes = append(mboxes, e.user(addr.UserID(fmt.Sprint("box", i))))
	}
	type ack struct {
		env store.Envelope
		seq int64
	}
	var mu sync.Mutex
	var acked []ack
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				m := msg(sender, mboxes[(w+i)%boxes], fmt.Sprint("w", w, "i", i))
				res, err := e.s.Submit(e.ctx, []store.Envelope{m, m})
				if err != nil || res[0].Err != nil || !res[1].Duplicate || res[1].Seq != res[0].Seq {
					t.Errorf("Submit: %v %+v", err, res)
					return
				}
				mu.Lock()
				acked = append(acked, ack{m, res[0].Seq})
				mu.Unlock()
			}
		})
	}
	for _, a := range mboxes {
		wg.Go(func() {
			for range perWriter {
				if _, err := e.s.Pending(e.ctx, a, 0, 50); err != nil {
					t.Errorf("Pending: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	e.reopen()
	bySeq := map[addr.Address]map[int64]store.Envelope{}
	for _, a := range mboxes {
		bySeq[a] = map[int64]store.Envelope{}
		for _, m := range e.pending(a) {
			bySeq[a][m.Seq] = m
		}
	}
	total := 0
	for _, m := range bySeq {
		total += len(m)
	}
	if total != len(acked) || len(acked) != writers*perWriter {
		t.Fatalf("%d envelopes stored, %d acknowledged, want %d", total, len(acked), writers*perWriter)
	}
	for _, a := range acked {
		got, ok := bySeq[a.env.To][a.seq]
		if !ok || got.ID != a.env.ID || !bytes.Equal(got.Payload, a.env.Payload) {
			t.Fatalf("acknowledged envelope %s (seq %d) missing or wrong after restart", a.env.ID, a.seq)
		}
	}
}

// testCloseDrains closes the store while submitters are busy: each call
// either succeeds, and its envelope survives a restart, or fails with
// ErrClosed.
func testCloseDrains(t *testing.T, e *env) {
	const writers = 8
	sender, box := e.user("sender"), e.user("box")
	var mu sync.Mutex
	var acked []store.Envelope
	started := make(chan struct{}, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := 0; ; i++ {
				m := msg(sender, box, fmt.Sprint("w", w, "i", i))
				res, err := e.s.Submit(e.ctx, []store.Envelope{m})
				if i == 0 {
					started <- struct{}{}
				}
				if errors.Is(err, store.ErrClosed) {
					return
				}
				if err != nil || res[0].Err != nil {
					t.Errorf("Submit: %v %+v", err, res)
					return
				}
				mu.Lock()
				acked = append(acked, m)
				mu.Unlock()
			}
		})
	}
	for range writers {
		<-started
	}
	if err := e.s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	e.reopen()
	stored := map[addr.MessageID]bool{}
	for after := int64(0); ; {
		page, err := e.s.Pending(e.ctx, box, after, store.MaxBatch)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, m := range page {
			stored[m.ID] = true
		}
		after = page[len(page)-1].Seq
	}
	for _, m := range acked {
		if !stored[m.ID] {
			t.Fatalf("envelope acknowledged before Close is missing (%d acknowledged, %d stored)", len(acked), len(stored))
		}
	}
}

func testClosed(t *testing.T, e *env) {
	ctx, s := e.ctx, e.s
	alice := e.user("alice")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	errs := map[string]error{}
	errs["CreateUser"] = s.CreateUser(ctx, store.User{ID: "bob", Identity: []byte{1}})
	_, errs["User"] = s.User(ctx, "alice")
	_, errs["Device"] = s.Device(ctx, alice)
	_, errs["Devices"] = s.Devices(ctx, "alice")
	_, errs["AddDevice"] = s.AddDevice(ctx, store.Device{Address: alice, Key: []byte("k"), Cert: []byte("c")})
	errs["RevokeDevice"] = s.RevokeDevice(ctx, alice)
	_, errs["ReplaceIdentity"] = s.ReplaceIdentity(ctx, store.User{ID: "alice", Identity: []byte{1}})
	errs["UseToken"] = s.UseToken(ctx, [32]byte{1}, Epoch)
	errs["PutPreKeys"] = s.PutPreKeys(ctx, alice, upload(1, 1, 1))
	_, errs["TakeBundle"] = s.TakeBundle(ctx, alice)
	_, errs["PreKeyCounts"] = s.PreKeyCounts(ctx, alice)
	_, errs["Submit"] = s.Submit(ctx, []store.Envelope{msg(alice, alice, "x")})
	_, errs["Pending"] = s.Pending(ctx, alice, 0, 1)
	_, errs["Ack"] = s.Ack(ctx, alice, []int64{1})
	_, errs["Expire"] = s.Expire(ctx, Epoch, 1)
	_, errs["MailboxLen"] = s.MailboxLen(ctx, alice)
	for name, err := range errs {
		wantErr(t, name+" after Close", err, store.ErrClosed)
	}
}

func testCanceled(t *testing.T, e *env) {
	alice := e.user("alice")
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	_, err := e.s.Submit(ctx, []store.Envelope{msg(alice, alice, "x")})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Submit(canceled) = %v", err)
	}
	err = e.s.CreateUser(ctx, store.User{ID: "bob", Identity: []byte{1}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("CreateUser(canceled) = %v", err)
	}
	if _, err := e.s.Pending(ctx, alice, 0, 1); err == nil {
		t.Fatal("Pending(canceled) succeeded")
	}
	// Nothing was written.
	if n := e.mailboxLen(alice); n != 0 {
		t.Fatalf("canceled Submit stored %d envelopes", n)
	}
	_, err = e.s.User(e.ctx, "bob")
	wantErr(t, "user of a canceled CreateUser", err, store.ErrNotFound)
}
