package client_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"parley.dev/client"
	"parley.dev/server"
	"parley.dev/server/servertest"
)

const day = 24 * time.Hour

// timerEvents returns the timer changes among evs.
func timerEvents(evs []client.Event) []client.TimerChange {
	var out []client.TimerChange
	for _, e := range evs {
		if e.Kind == client.EventTimer {
			out = append(out, *e.Timer)
		}
	}
	return out
}

func wantTimer(t *testing.T, c *client.Client, peer string, want time.Duration) {
	t.Helper()
	if d, err := c.Timer(context.Background(), peer); err != nil || d != want {
		t.Fatalf("Timer(%s) = %v, %v; want %v", peer, d, err, want)
	}
}

// timedPair registers alice and bob on one test clock and sets alice's
// timer for bob to d.
func timedPair(t *testing.T, d time.Duration) (*testClock, *client.Client, *client.Client) {
	t.Helper()
	return timedPairOn(t, startRelay(t), d)
}

// timedPairOn is timedPair on relay r.
func timedPairOn(t *testing.T, r *servertest.Relay, d time.Duration) (*testClock, *client.Client, *client.Client) {
	t.Helper()
	clock := &testClock{now: time.Now()}
	alice := register(t, r, "alice", clocked(clock))
	bob := register(t, r, "bob", clocked(clock))
	if err := alice.SetTimer(context.Background(), "bob", d); err != nil {
		t.Fatal(err)
	}
	return clock, alice, bob
}

// TestTimerSetSeenAsEvent: a timer alice sets reaches bob as an event and
// becomes the conversation's on both sides; alice's other device learns
// it from the transcript.
func TestTimerSetSeenAsEvent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := startRelay(t)
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	alice2 := link(t, r, alice, "alice2")
	wantTimer(t, bob, "alice", 0)
	if err := alice.SetTimer(ctx, "bob", day); err != nil {
		t.Fatalf("SetTimer: %v", err)
	}
	wantTimer(t, alice, "bob", day)
	got := timerEvents(syncNow(t, bob))
	if len(got) != 1 || got[0] != (client.TimerChange{Contact: "alice", Timer: day}) {
		t.Fatalf("bob's timer events = %+v", got)
	}
	wantTimer(t, bob, "alice", day)
	got = timerEvents(syncNow(t, alice2))
	if len(got) != 1 || got[0] != (client.TimerChange{Contact: "bob", Timer: day, Outgoing: true}) {
		t.Fatalf("alice2's timer events = %+v", got)
	}
	wantTimer(t, alice2, "bob", day)

	// Bob turns it off; a text sent after carries no timer.
	if err := bob.SetTimer(ctx, "alice", 0); err != nil {
		t.Fatalf("SetTimer(0): %v", err)
	}
	send(t, bob, "alice", "kept")
	evs := syncNow(t, alice)
	if got := timerEvents(evs); len(got) != 1 || got[0].Timer != 0 {
		t.Fatalf("alice's timer events = %+v", got)
	}
	for _, e := range evs {
		if e.Kind == client.EventMessage && !e.Message.Expires.IsZero() {
			t.Fatalf("a message sent with the timer off expires at %v", e.Message.Expires)
		}
	}
	for _, bad := range []time.Duration{-time.Second, 1500 * time.Millisecond, 400 * day} {
		wantErr(t, "SetTimer "+bad.String(), alice.SetTimer(ctx, "bob", bad), client.ErrInvalid)
	}
}

// TestTimerDeletesOnBothSides: a message under a one-day timer is in
// both histories until a day after it was sent, then gone from both,
// and from the vaults' files: no page image of its record is left in
// them, decrypted, once the sweep has compacted the vault.
func TestTimerDeletesOnBothSides(t *testing.T) {
	t.Parallel()
	clock, alice, bob := timedPair(t, day)
	const secret = "the vault combination is 4-8-15-16"
	id := send(t, alice, "bob", secret)
	clock.Advance(time.Millisecond)
	send(t, alice, "bob", "x") // a second message, to check only what is due goes
	wantTexts(t, "bob's messages", texts(syncNow(t, bob), client.EventMessage), secret, "x")
	h := history(t, bob, "alice")
	if want := h[0].Sent.Add(day); !h[0].Expires.Equal(want) {
		t.Fatalf("Expires = %v, want %v", h[0].Expires, want)
	}
	sealed := map[*client.Client][]byte{alice: sealedHistory(t, alice, "bob", id), bob: sealedHistory(t, bob, "alice", id)}

	clock.Advance(day - time.Second)
	wantTexts(t, "alice's history before the deadline", historyTexts(t, alice, "bob"), secret, "x")
	wantTexts(t, "bob's history before the deadline", historyTexts(t, bob, "alice"), secret, "x")

	clock.Advance(2 * time.Second)
	wantTexts(t, "alice's history after a day", historyTexts(t, alice, "bob"))
	wantTexts(t, "bob's history after a day", historyTexts(t, bob, "alice"))
	for c, rec := range sealed {
		if held, err := client.VaultFilesHold(c, rec); err != nil || held {
			t.Fatalf("%s's vault files hold the deleted record: %v (err %v)", c.Home, held, err)
		}
		grepHome(t, c.Home, secret)
	}
	// Gone for good: the restarted app does not show it either.
	wantTexts(t, "bob's history reopened", historyTexts(t, reopen(t, bob), "alice"))
}

// TestTimerLateArrival: bob is offline longer than the timer; the message
// the relay still holds for him is acknowledged, never shown nor stored.
func TestTimerLateArrival(t *testing.T) {
	t.Parallel()
	clock, alice, bob := timedPair(t, time.Hour)
	send(t, alice, "bob", "too late")
	clock.Advance(2 * time.Hour)
	evs := syncNow(t, bob)
	wantTexts(t, "late messages shown", texts(evs, client.EventMessage))
	if got := timerEvents(evs); len(got) != 1 {
		t.Fatalf("the timer change itself is not timed: %+v", got)
	}
	wantTexts(t, "bob's history", historyTexts(t, bob, "alice"))
	if evs := syncNow(t, bob); len(texts(evs, client.EventMessage)) != 0 {
		t.Fatalf("redelivered: %+v", evs)
	}
}

// TestTimerPolicyCap: under a policy with a one-day default and maximum,
// a conversation starts with the default; a longer timer, or none, is
// refused; a contact's longer timer is capped on this device.
func TestTimerPolicyCap(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tn := newTenant(t)
	r := startRelay(t)
	p := openPolicy(1)
	p.DefaultTimer, p.MaxTimer = day, day
	r.PublishPolicy(t, tn.priv, p)
	clock := &testClock{now: time.Now()}
	alice := register(t, r, "alice", tn.app, clocked(clock))
	bob := register(t, r, "bob", clocked(clock)) // a consumer app: no policy

	wantTimer(t, alice, "bob", day)
	wantRule(t, "a two-day timer", alice.SetTimer(ctx, "bob", 2*day), client.RuleTimer)
	wantRule(t, "no timer", alice.SetTimer(ctx, "bob", 0), client.RuleTimer)
	wantTimer(t, alice, "bob", day)
	if err := alice.SetTimer(ctx, "bob", time.Hour); err != nil {
		t.Fatalf("a shorter timer: %v", err)
	}
	wantTimer(t, alice, "bob", time.Hour)

	// Bob, under no policy, sets a week; alice keeps bob's messages a day.
	syncNow(t, bob)
	clock.Advance(time.Second)
	if err := bob.SetTimer(ctx, "alice", 7*day); err != nil {
		t.Fatal(err)
	}
	send(t, bob, "alice", "a week for bob, a day for alice")
	syncNow(t, alice)
	wantTimer(t, alice, "bob", day)
	h := history(t, alice, "bob")
	if got := h[0].Expires.Sub(h[0].Sent); got != day {
		t.Fatalf("bob's message expires %v after it was sent on alice's device, want a day", got)
	}
}

// TestTimerRelayTTL: the envelopes of a timed message carry the timer as
// their TTL, and the relay keeps them no longer than that, whatever its
// mailbox TTL.
func TestTimerRelayTTL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	relayClock := servertest.NewClock(time.Now())
	r := startRelay(t, func(s *server.Server) {
		s.Now = relayClock.Now
		s.MailboxTTL = 30 * day
	})
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	if err := alice.SetTimer(ctx, "bob", time.Hour); err != nil {
		t.Fatal(err)
	}
	syncNow(t, bob)
	send(t, alice, "bob", "an hour at most")
	send(t, bob, "alice", "untimed? no: the conversation's timer")
	relayClock.Advance(2 * time.Hour) // bob's own clock has not moved
	wantTexts(t, "messages the relay kept past the timer", texts(syncNow(t, bob), client.EventMessage))
	wantTexts(t, "alice's", texts(syncNow(t, alice), client.EventMessage))
}

func history(t *testing.T, c *client.Client, peer string) []client.Message {
	t.Helper()
	h, err := c.History(context.Background(), peer)
	if err != nil || len(h) == 0 {
		t.Fatalf("History(%s) = %v, %v", peer, h, err)
	}
	return h
}

func sealedHistory(t *testing.T, c *client.Client, peer string, id client.MessageID) []byte {
	t.Helper()
	rec, err := client.SealedHistory(c, peer, id)
	if err != nil {
		t.Fatalf("SealedHistory: %v", err)
	}
	if held, err := client.VaultFilesHold(c, rec); err != nil || !held {
		t.Fatalf("the files do not hold a stored record: %v (err %v); the check cannot work", held, err)
	}
	return rec
}

// grepHome fails if any file under home holds text as is.
func grepHome(t *testing.T, home, text string) {
	t.Helper()
	err := filepath.WalkDir(home, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err == nil && bytes.Contains(b, []byte(text)) {
			t.Errorf("%s holds the text", path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRetentionDays: under a policy keeping history two days, a message
// is kept a day, and deleted (from the files too) once it is older than
// two: by the sweep at Unlock, before anything else runs.
func TestRetentionDays(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, tn, clock, alice, bob := retentionPair(t, 2)
	id := send(t, bob, "alice", "kept two days")
	syncNow(t, alice)
	sealed := sealedHistory(t, alice, "bob", id)

	clock.Advance(day)
	wantTexts(t, "after a day", historyTexts(t, alice, "bob"), "kept two days")
	alice.Close()
	clock.Advance(day + time.Minute)
	alice2 := &client.Client{Home: alice.Home, PolicyKey: tn.pub}
	client.SetClock(alice2, clock.Now)
	if err := alice2.Unlock(ctx, testPIN); err != nil {
		t.Fatal(err)
	}
	defer alice2.Close()
	if held, err := client.VaultFilesHold(alice2, sealed); err != nil || held {
		t.Fatalf("after Unlock the vault files hold the old record: %v (err %v)", held, err)
	}
	wantTexts(t, "after two days", historyTexts(t, alice2, "bob"))
}

// TestTimerDeletesAttachments: a file sent under a timer goes with its
// message: the record, and the plaintext copy in the vault's file area,
// on the sender (a spooled copy) and the receiver (downloaded).
func TestTimerDeletesAttachments(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock, alice, bob := timedPair(t, time.Hour)
	data := bytes.Repeat([]byte("a timed voice note "), 5_000)
	id, err := alice.SendFileFrom(ctx, "bob", bytes.NewReader(data), client.FileOptions{Name: "note.ogg"})
	if err != nil {
		t.Fatal(err)
	}
	m := attachmentMsg(t, syncNow(t, bob))
	if m.Expires.IsZero() {
		t.Fatal("the attachment message carries no timer")
	}
	if got := saved(t, bob, id); !bytes.Equal(got, data) {
		t.Fatal("bob's copy differs")
	}
	for _, c := range []*client.Client{alice, bob} {
		if n := vaultFiles(t, c); n != 1 {
			t.Fatalf("%s holds %d files, want the attachment's", c.Home, n)
		}
	}
	clock.Advance(time.Hour + time.Second)
	for _, c := range []*client.Client{alice, bob} {
		syncNow(t, c) // the connection's sweep
		if _, err := c.OpenAttachment(id); !errors.Is(err, client.ErrNoAttachment) {
			t.Fatalf("%s: OpenAttachment after the timer: %v", c.Home, err)
		}
		if n := vaultFiles(t, c); n != 0 {
			t.Fatalf("%s still holds %d files", c.Home, n)
		}
	}
}

// TestRetentionDeletesGroupHistory: the retention rule covers groups.
func TestRetentionDeletesGroupHistory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, _, clock, alice, _ := retentionPair(t, 1)
	g, err := alice.CreateGroup(ctx, "team", []string{"bob"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SendGroup(ctx, g, "to the team"); err != nil {
		t.Fatal(err)
	}
	if h, err := alice.GroupHistory(ctx, g); err != nil || len(h) == 0 {
		t.Fatalf("GroupHistory = %v, %v", h, err)
	}
	clock.Advance(day + time.Hour)
	if h, err := alice.GroupHistory(ctx, g); err != nil || len(h) != 0 {
		t.Fatalf("GroupHistory after the retention = %+v, %v", h, err)
	}
}

// vaultFiles counts the files in c's vault file area.
func vaultFiles(t *testing.T, c *client.Client) int {
	t.Helper()
	files, err := os.ReadDir(filepath.Join(c.Home, "files"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return len(files)
}

// TestRetentionDropsQueuedGroupMessages: a group message still waiting for
// the relay when the retention rule deletes it is not sent afterwards.
func TestRetentionDropsQueuedGroupMessages(t *testing.T) {
	t.Parallel()
	r, clock, alice, bob, g := groupRelayDown(t)
	queueGroupText(t, alice, g)
	clock.Advance(day + time.Hour)
	if err := client.SweepNow(alice); err != nil {
		t.Fatal(err)
	}
	r.Restart(t)
	wantNoGroupMessage(t, alice, bob, g)
}

// TestRetentionKeepsSealedGroupItems: a group message already sealed when
// the retention rule deletes it still goes out, with the sender-key
// handouts sealed with it: dropping them would leave bob, whom the sealing
// marked as holding alice's key, unable to read her later messages. Both
// cases: the sweep runs while the flush submits the item, and while the
// item waits sealed for a relay that went down.
func TestRetentionKeepsSealedGroupItems(t *testing.T) {
	t.Parallel()
	t.Run("during the flush", func(t *testing.T) {
		t.Parallel()
		r, clock, alice, bob, g := groupRelayDown(t)
		queueGroupText(t, alice, g)
		r.Restart(t)
		swept := onceAtGroupSubmit(alice, func() { sweepPastRetention(t, clock, alice) })
		syncNow(t, alice)
		if !*swept {
			t.Fatal("the flush submitted no group item")
		}
		wantLaterGroupMessage(t, alice, bob, g)
	})
	t.Run("sealed, then offline", func(t *testing.T) {
		t.Parallel()
		r, clock, alice, bob, g := groupRelayDown(t)
		queueGroupText(t, alice, g)
		r.Restart(t)
		stopped := onceAtGroupSubmit(alice, func() { r.Stop(t) })
		alice.Sync(context.Background()) // seals, then cannot submit
		if !*stopped {
			t.Fatal("nothing sealed")
		}
		clock.Advance(day + time.Hour)
		r.Restart(t)
		syncNow(t, alice) // the connection's sweep runs first
		wantLaterGroupMessage(t, alice, bob, g)
	})
}

// wantLaterGroupMessage sends another message to g and fails unless bob
// reads it.
func wantLaterGroupMessage(t *testing.T, alice, bob *client.Client, g client.GroupID) {
	t.Helper()
	if _, err := alice.SendGroup(context.Background(), g, "after the sweep"); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range syncNow(t, bob) {
		if e.Kind == client.EventMessage {
			got = append(got, e.Message.Text)
		}
		if e.Kind == client.EventError {
			t.Errorf("bob: %v", e.Err)
		}
	}
	if !slices.Contains(got, "after the sweep") {
		t.Fatalf("bob received %q: not alice's message after the sweep", got)
	}
}

// TestRetentionBeforeGroupSealing: a group message the retention rule
// deletes while a flush is busy with an earlier item (a change) is neither
// sealed, nor stored back, nor sent, though the flush read it.
func TestRetentionBeforeGroupSealing(t *testing.T) {
	t.Parallel()
	r, clock, alice, bob, g := groupRelayDown(t)
	if err := alice.RenameGroup(context.Background(), g, "renamed"); !errors.Is(err, client.ErrUnreachable) {
		t.Fatalf("RenameGroup while the relay is down: %v, want ErrUnreachable", err)
	}
	clock.Advance(time.Millisecond) // the message after the change, in the outbox's order
	queueGroupText(t, alice, g)
	r.Restart(t)
	sweepAtGroupSubmit(t, clock, alice, bob, g)
}

// groupRelayDown makes alice (under a one-day retention rule) a group with
// bob, then stops the relay.
func groupRelayDown(t *testing.T) (*servertest.Relay, *testClock, *client.Client, *client.Client, client.GroupID) {
	t.Helper()
	r, _, clock, alice, bob := retentionPair(t, 1)
	g, err := alice.CreateGroup(context.Background(), "team", []string{"bob"})
	if err != nil {
		t.Fatal(err)
	}
	syncNow(t, bob) // the welcome
	r.Stop(t)
	return r, clock, alice, bob, g
}

// retentionPair starts a relay whose tenant policy keeps messages for
// days, and registers alice (of the tenant, on a test clock) and bob.
func retentionPair(t *testing.T, days int) (*servertest.Relay, *tenant, *testClock, *client.Client, *client.Client) {
	t.Helper()
	tn := newTenant(t)
	r := startRelay(t)
	p := openPolicy(1)
	p.RetentionDays = days
	r.PublishPolicy(t, tn.priv, p)
	clock := &testClock{now: time.Now()}
	alice := register(t, r, "alice", tn.app, clocked(clock))
	return r, tn, clock, alice, register(t, r, "bob")
}

// queueGroupText queues a message to g while the relay is down.
func queueGroupText(t *testing.T, alice *client.Client, g client.GroupID) {
	t.Helper()
	if _, err := alice.SendGroup(context.Background(), g, "past the retention"); !errors.Is(err, client.ErrUnreachable) {
		t.Fatalf("SendGroup while the relay is down: %v, want ErrUnreachable", err)
	}
}

// sweepAtGroupSubmit runs the retention sweep, past the message's day, at
// the flush's first group submission, and wants the message not sent.
func sweepAtGroupSubmit(t *testing.T, clock *testClock, alice, bob *client.Client, g client.GroupID) {
	t.Helper()
	swept := onceAtGroupSubmit(alice, func() { sweepPastRetention(t, clock, alice) })
	wantNoGroupMessage(t, alice, bob, g)
	if !*swept {
		t.Fatal("the flush submitted no group item")
	}
}

// onceAtGroupSubmit runs f before c's first group submission from now on;
// the result reports whether it ran.
func onceAtGroupSubmit(c *client.Client, f func()) *bool {
	ran := new(bool)
	client.BeforeGroupSubmit(c, func() {
		if !*ran {
			*ran = true
			f()
		}
	})
	return ran
}

// sweepPastRetention moves the clock past the one-day retention and sweeps.
func sweepPastRetention(t *testing.T, clock *testClock, c *client.Client) {
	clock.Advance(day + time.Hour)
	if err := client.SweepNow(c); err != nil {
		t.Error(err)
	}
}

// wantNoGroupMessage flushes alice's outbox twice and fails if that
// reports an error, bob receives a message, or alice still shows one in
// group g.
func wantNoGroupMessage(t *testing.T, alice, bob *client.Client, g client.GroupID) {
	t.Helper()
	for range 2 {
		for _, e := range syncNow(t, alice) {
			if e.Kind == client.EventError {
				t.Errorf("alice's flush reports %v", e.Err)
			}
		}
	}
	for _, e := range syncNow(t, bob) {
		if e.Kind == client.EventMessage {
			t.Fatalf("bob received %q, deleted by the retention rule before it was sent", e.Message.Text)
		}
	}
	h, err := alice.GroupHistory(context.Background(), g)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range h {
		if e.Message != nil {
			t.Fatalf("alice's group history still shows %q", e.Message.Text)
		}
	}
}
