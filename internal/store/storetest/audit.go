package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"parley.dev/internal/addr"
	"parley.dev/internal/audit"
	"parley.dev/internal/store"
)

// appendAudit appends an entry and fails the test on error.
func (e *env) appendAudit(kind audit.Kind, subject string) audit.Entry {
	e.t.Helper()
	got, err := e.s.AppendAudit(e.ctx, audit.Entry{Kind: kind, Actor: "admin", Subject: subject})
	if err != nil {
		e.t.Fatalf("AppendAudit: %v", err)
	}
	return got
}

// verifyAudit fails unless the stored log verifies with n entries.
func (e *env) verifyAudit(n int64) {
	e.t.Helper()
	got, err := store.VerifyAudit(e.ctx, e.s)
	if err != nil || got != n {
		e.t.Fatalf("VerifyAudit = %d, %v; want %d entries, nil", got, err, n)
	}
}

func testAuditChain(t *testing.T, e *env) {
	e.verifyAudit(0)
	first := e.appendAudit(audit.Register, "alice")
	if first.Seq != 1 || first.Prev != (audit.Hash{}) || first.Hash != first.Sum() || !first.Time.Equal(Epoch) {
		t.Fatalf("first entry %+v", first)
	}
	e.clock.Advance(time.Second)
	second := e.appendAudit(audit.DeviceRevoke, "alice/2")
	if second.Seq != 2 || second.Prev != first.Hash {
		t.Fatalf("second entry %+v does not link to the first", second)
	}
	log, err := e.s.AuditLog(e.ctx, 0, 10)
	if err != nil || len(log) != 2 || log[0] != first || log[1] != second {
		t.Fatalf("AuditLog = %+v, %v", log, err)
	}
	if log, _ := e.s.AuditLog(e.ctx, 1, 10); len(log) != 1 || log[0] != second {
		t.Fatalf("AuditLog after 1 = %+v", log)
	}
	e.verifyAudit(2)
	e.reopen()
	e.verifyAudit(2)
	if third := e.appendAudit(audit.UserDelete, "alice"); third.Seq != 3 || third.Prev != second.Hash {
		t.Fatalf("after reopen: %+v", third)
	}
	_, err = e.s.AppendAudit(e.ctx, audit.Entry{})
	wantErr(t, "AppendAudit(no kind)", err, store.ErrInvalid)
	_, err = e.s.AuditLog(e.ctx, 0, 0)
	wantErr(t, "AuditLog(limit 0)", err, store.ErrInvalid)
	e.verifyAudit(3)
}

// testAuditConcurrent appends from many goroutines at once: one chain.
func testAuditConcurrent(t *testing.T, e *env) {
	const workers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				_, err := e.s.AppendAudit(e.ctx, audit.Entry{Kind: audit.TokenUse, Subject: fmt.Sprintf("u%d-%d", w, i)})
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	e.verifyAudit(workers * each)
}

func testAuditPrune(t *testing.T, e *env) {
	for i := range 5 {
		e.appendAudit(audit.Register, fmt.Sprintf("u%d", i))
		e.clock.Advance(time.Hour)
	}
	// Entries at Epoch+0h..4h; prune those before Epoch+2h30m: 3 of them.
	n, err := e.s.PruneAudit(e.ctx, Epoch.Add(150*time.Minute), 100)
	if err != nil || n != 3 {
		t.Fatalf("PruneAudit = %d, %v; want 3", n, err)
	}
	// The prune is itself in the log, naming the anchor: entries 4, 5 and
	// the prune (6) remain.
	a, err := e.s.AuditAnchor(e.ctx)
	if err != nil || a.Seq != 3 || a.HeadSeq != 6 {
		t.Fatalf("anchor %+v, %v", a, err)
	}
	e.verifyAudit(3)
	// The head stays, however old: 4 and 5 go, the first prune entry and
	// the second remain.
	if n, _ := e.s.PruneAudit(e.ctx, Epoch.Add(100*time.Hour), 100); n != 2 {
		t.Fatalf("second prune removed %d, want 2 (all but the head)", n)
	}
	e.verifyAudit(2)
	e.appendAudit(audit.Register, "u9")
	e.verifyAudit(3)
}

func testSuspend(t *testing.T, e *env) {
	a := e.user("alice")
	if d, _ := e.s.Device(e.ctx, a); d.Suspended {
		t.Fatal("new user suspended")
	}
	if err := e.s.SetSuspended(e.ctx, "alice", true); err != nil {
		t.Fatal(err)
	}
	if d, _ := e.s.Device(e.ctx, a); !d.Suspended {
		t.Fatal("Device does not report the suspension")
	}
	if u, _ := e.s.User(e.ctx, "alice"); !u.Suspended {
		t.Fatal("User does not report the suspension")
	}
	if err := e.s.SetSuspended(e.ctx, "alice", false); err != nil {
		t.Fatal(err)
	}
	if d, _ := e.s.Device(e.ctx, a); d.Suspended {
		t.Fatal("still suspended after resume")
	}
	wantErr(t, "SetSuspended(unknown)", e.s.SetSuspended(e.ctx, "nobody", true), store.ErrNotFound)
}

func testUsersAndTouch(t *testing.T, e *env) {
	a := e.user("bob")
	e.user("alice")
	e.device("bob")
	if d, _ := e.s.Device(e.ctx, a); !d.LastSeen.IsZero() {
		t.Fatalf("LastSeen %v before any Touch", d.LastSeen)
	}
	seen := Epoch.Add(time.Minute)
	if err := e.s.Touch(e.ctx, a, seen); err != nil {
		t.Fatal(err)
	}
	devs, _ := e.s.Devices(e.ctx, "bob")
	if len(devs) != 2 || !devs[0].LastSeen.Equal(seen) || !devs[1].LastSeen.IsZero() {
		t.Fatalf("Devices = %+v", devs)
	}
	wantErr(t, "Touch(unknown)", e.s.Touch(e.ctx, addr.Address{User: "bob", Device: 9}, seen), store.ErrNotFound)
	us, err := e.s.Users(e.ctx, "", 10)
	if err != nil || len(us) != 2 || us[0].ID != "alice" || us[0].Devices != 1 || us[1].ID != "bob" || us[1].Devices != 2 {
		t.Fatalf("Users = %+v, %v", us, err)
	}
	if us, _ := e.s.Users(e.ctx, "alice", 10); len(us) != 1 || us[0].ID != "bob" {
		t.Fatalf("Users after alice = %+v", us)
	}
}

func testDeleteUser(t *testing.T, e *env) {
	alice, bob := e.user("alice"), e.user("bob")
	alice2 := e.device("alice")
	e.stored(msg(bob, alice, "to alice"), msg(alice, bob, "from alice"), msg(alice2, bob, "from alice 2"), msg(bob, bob, "kept"))
	ids, err := e.s.DeleteUser(e.ctx, "alice")
	if err != nil || len(ids) != 2 {
		t.Fatalf("DeleteUser = %v, %v", ids, err)
	}
	_, err = e.s.User(e.ctx, "alice")
	wantErr(t, "User after delete", err, store.ErrNotFound)
	_, err = e.s.Device(e.ctx, alice)
	wantErr(t, "Device after delete", err, store.ErrNotFound)
	if got := e.pending(bob); len(got) != 1 || string(got[0].Payload) != "kept" {
		t.Fatalf("bob's mailbox after alice's erasure: %d envelopes", len(got))
	}
	_, err = e.s.DeleteUser(e.ctx, "alice")
	wantErr(t, "DeleteUser twice", err, store.ErrNotFound)
	// The name can be registered afresh.
	if got := e.user("alice"); got.Device != 1 {
		t.Fatalf("re-created alice's device %d", got.Device)
	}
}
