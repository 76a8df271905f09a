package client_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"parley.dev/client"
	"parley.dev/internal/group"
	"parley.dev/internal/group/grouptest"
)

func groupTexts(evs []client.Event, id client.GroupID) []string {
	var out []string
	for _, e := range evs {
		if e.Kind == client.EventMessage && e.Message != nil && e.Message.Group == id {
			out = append(out, e.Message.Contact+": "+e.Message.Text)
		}
	}
	return out
}

func groupChanges(evs []client.Event, k client.EventKind) []*client.GroupChange {
	var out []*client.GroupChange
	for _, e := range evs {
		if e.Kind == k {
			out = append(out, e.Group)
		}
	}
	return out
}

// newGroup has alice create a group of users and each of them sync (and
// so join); it returns the group's ID.
func newGroup(t *testing.T, alice *client.Client, users []string, cs ...*client.Client) client.GroupID {
	t.Helper()
	id, err := alice.CreateGroup(context.Background(), "team", users)
	if err != nil {
		t.Fatalf("CreateGroup: %v", err)
	}
	for _, c := range cs {
		syncNow(t, c)
	}
	return id
}

func members(t *testing.T, c *client.Client, id client.GroupID) []string {
	t.Helper()
	ms, err := c.Members(context.Background(), id)
	if err != nil {
		t.Fatalf("Members: %v", err)
	}
	var out []string
	for _, m := range ms {
		s := m.User
		if m.Admin {
			s += "*"
		}
		out = append(out, s)
	}
	return out
}

// TestGroupLifecycle: three users in a group, a message from each, a
// removal, and the removed member reads nothing sent afterwards; the
// others do, and see the removal.
func TestGroupLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := startRelay(t)
	alice, bob, carol := register(t, r, "alice"), register(t, r, "bob"), register(t, r, "carol")
	id, err := alice.CreateGroup(ctx, "team", []string{"bob", "carol"})
	if err != nil {
		t.Fatalf("CreateGroup: %v", err)
	}
	for _, c := range []*client.Client{bob, carol} {
		evs := syncNow(t, c)
		if ch := groupChanges(evs, client.EventGroupChanged); len(ch) != 1 || ch[0].Kind != "create" || ch[0].By != "alice" {
			t.Fatalf("joining: %+v", evs)
		}
	}
	wantTexts(t, "members", members(t, carol, id), "alice*", "bob", "carol")

	for _, m := range []struct {
		c    *client.Client
		text string
	}{{alice, "hi team"}, {bob, "hi alice"}, {carol, "hello"}} {
		if _, err := m.c.SendGroup(ctx, id, m.text); err != nil {
			t.Fatalf("SendGroup: %v", err)
		}
	}
	wantTexts(t, "bob reads", groupTexts(syncNow(t, bob), id), "alice: hi team", "carol: hello")
	wantTexts(t, "carol reads", groupTexts(syncNow(t, carol), id), "alice: hi team", "bob: hi alice")
	wantTexts(t, "alice reads", groupTexts(syncNow(t, alice), id), "bob: hi alice", "carol: hello")

	if err := alice.RemoveMembers(ctx, id, []string{"carol"}); err != nil {
		t.Fatalf("RemoveMembers: %v", err)
	}
	if _, err := alice.SendGroup(ctx, id, "carol is gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.SendGroup(ctx, id, "bye carol"); err != nil {
		t.Fatal(err) // bob has not seen the removal yet: he sends in the old state
	}
	evs := syncNow(t, bob)
	wantTexts(t, "bob after the removal", groupTexts(evs, id), "alice: carol is gone")
	if ch := groupChanges(evs, client.EventGroupChanged); len(ch) != 1 || ch[0].Kind != "remove" || !slices.Equal(ch[0].Users, []string{"carol"}) {
		t.Fatalf("bob's change events: %+v", ch)
	}
	if _, err := bob.SendGroup(ctx, id, "after the removal"); err != nil {
		t.Fatal(err)
	}
	evs = syncNow(t, carol)
	// carol still reads what bob sent before he knew of the removal (she
	// was a member of the state he sent it in), but nothing after.
	wantTexts(t, "carol after her removal", groupTexts(evs, id), "bob: bye carol")
	g, err := carol.Group(ctx, id)
	if err != nil || g.Joined {
		t.Fatalf("carol's view: %+v, %v", g, err)
	}
	if _, err := carol.SendGroup(ctx, id, "let me in"); !errors.Is(err, client.ErrNotGroupMember) {
		t.Fatalf("removed member sends: %v", err)
	}
	wantTexts(t, "alice reads", groupTexts(syncNow(t, alice), id), "bob: bye carol", "bob: after the removal")
	h, err := alice.GroupHistory(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, e := range h {
		if e.Change != nil {
			lines = append(lines, e.Change.Kind)
		} else {
			lines = append(lines, e.Message.Contact+": "+e.Message.Text)
		}
	}
	wantTexts(t, "alice's group history", lines, "create", "alice: hi team", "bob: hi alice", "carol: hello", "remove",
		"alice: carol is gone", "bob: bye carol", "bob: after the removal")
}

// TestGroupRefusedChange: a member who is not an admin (or the relay)
// cannot add anyone: the forged add reaches carol over a real session,
// and she reports a refused change and keeps the group as it was.
func TestGroupRefusedChange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := startRelay(t)
	alice, bob, carol := register(t, r, "alice"), register(t, r, "bob"), register(t, r, "carol")
	id := newGroup(t, alice, []string{"bob", "carol"}, bob, carol)
	head, err := client.GroupHead(bob, id)
	if err != nil {
		t.Fatal(err)
	}
	mallory := client.IdentityOf(register(t, r, "mallory2"))
	forged := grouptest.ForgeAdd(client.IdentityOf(bob), "bob", head,
		[]group.Member{{User: "mallory2", Identity: mallory.Public()}}, time.Now())
	if err := client.SendGroupChange(ctx, bob, "carol", forged); err != nil {
		t.Fatal(err)
	}
	evs := syncNow(t, carol)
	refused := groupChanges(evs, client.EventGroupRefused)
	if len(refused) != 1 || refused[0].Kind != "add" || refused[0].By != "bob" || !slices.Equal(refused[0].Users, []string{"mallory2"}) {
		t.Fatalf("carol's events: %+v", evs)
	}
	var refusal error
	for _, e := range evs {
		if e.Kind == client.EventGroupRefused {
			refusal = e.Err
		}
	}
	wantErr(t, "refusal", refusal, client.ErrGroupRefused)
	wantTexts(t, "carol's members", members(t, carol, id), "alice*", "bob", "carol")
	// The group goes on.
	if _, err := alice.SendGroup(ctx, id, "still us"); err != nil {
		t.Fatal(err)
	}
	wantTexts(t, "carol reads", groupTexts(syncNow(t, carol), id), "alice: still us")
}

// TestGroupMultiDevice: a member's devices all read the group, its own
// messages reach its other devices, and a device linked later gets the
// group's current state (not its history) and what follows.
func TestGroupMultiDevice(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := startRelay(t)
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	alice2 := link(t, r, alice, "alice2")
	id, err := alice.CreateGroup(ctx, "pair", []string{"bob"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.SendGroup(ctx, id, "early"); !errors.Is(err, client.ErrUnknownGroup) {
		t.Fatalf("before bob's device heard of the group: %v", err)
	}
	syncNow(t, bob)
	syncNow(t, alice2)
	if _, err := alice.SendGroup(ctx, id, "from alice/1"); err != nil {
		t.Fatal(err)
	}
	wantTexts(t, "alice/2 reads her own", groupTexts(syncNow(t, alice2), id), "alice: from alice/1")
	if _, err := alice2.SendGroup(ctx, id, "from alice/2"); err != nil {
		t.Fatal(err)
	}
	wantTexts(t, "bob reads both", groupTexts(syncNow(t, bob), id), "alice: from alice/1", "alice: from alice/2")
	wantTexts(t, "alice/1 reads alice/2", groupTexts(syncNow(t, alice), id), "alice: from alice/2")

	bob2 := link(t, r, bob, "bob2")
	syncNow(t, bob) // bob/1 gives bob/2 the group's state
	evs := syncNow(t, bob2)
	if ch := groupChanges(evs, client.EventGroupChanged); len(ch) != 1 {
		t.Fatalf("bob/2 joining: %+v", evs)
	}
	if h, _ := bob2.GroupHistory(ctx, id); len(h) != 1 || h[0].Change == nil {
		t.Fatalf("bob/2 has history from before it was linked: %+v", h)
	}
	if _, err := alice.SendGroup(ctx, id, "to all four"); err != nil {
		t.Fatal(err)
	}
	wantTexts(t, "bob/2", groupTexts(syncNow(t, bob2), id), "alice: to all four")
	wantTexts(t, "bob/1", groupTexts(syncNow(t, bob), id), "alice: to all four")
	if _, err := bob2.SendGroup(ctx, id, "hello from bob/2"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*client.Client{alice, bob} {
		wantTexts(t, "bob/2's message", groupTexts(syncNow(t, c), id), "bob: hello from bob/2")
	}
	wantTexts(t, "alice/2", groupTexts(syncNow(t, alice2), id), "alice: to all four", "bob: hello from bob/2")
}

// TestGroupOfflineAndRestart: a group message written while the relay is
// down waits in the outbox and goes out on the next Sync; groups survive
// the app's restart.
func TestGroupOfflineAndRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := startRelay(t)
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	id, err := alice.CreateGroup(ctx, "pair", []string{"bob"})
	if err != nil {
		t.Fatal(err)
	}
	syncNow(t, bob)
	r.Stop(t)
	if _, err := alice.SendGroup(ctx, id, "queued"); !errors.Is(err, client.ErrUnreachable) {
		t.Fatalf("SendGroup while the relay is down: %v", err)
	}
	r.Restart(t)
	alice = reopen(t, alice)
	bob = reopen(t, bob)
	evs := syncNow(t, alice)
	if sent := texts(evs, client.EventSent); !slices.Equal(sent, []string{"queued"}) {
		t.Fatalf("alice's events after the restart: %+v", evs)
	}
	wantTexts(t, "bob", groupTexts(syncNow(t, bob), id), "alice: queued")
	if err := bob.LeaveGroup(ctx, id); err != nil {
		t.Fatal(err)
	}
	evs = syncNow(t, alice)
	if ch := groupChanges(evs, client.EventGroupChanged); len(ch) != 1 || ch[0].Kind != "leave" {
		t.Fatalf("alice after bob left: %+v", evs)
	}
	wantTexts(t, "members", members(t, alice, id), "alice*")
	gs, err := bob.Groups(ctx)
	if err != nil || len(gs) != 1 || gs[0].Joined {
		t.Fatalf("bob's groups after leaving: %+v, %v", gs, err)
	}
}

// TestGroupSenderKeyRotation: a device keeps its sender key while members
// join, and starts a new one after a removal and after a device of a
// member is revoked, before it sends again.
func TestGroupSenderKeyRotation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := startRelay(t)
	alice, bob, carol := register(t, r, "alice"), register(t, r, "bob"), register(t, r, "carol")
	bob2 := link(t, r, bob, "bob2")
	register(t, r, "dave")
	id, err := alice.CreateGroup(ctx, "team", []string{"bob", "carol"})
	if err != nil {
		t.Fatal(err)
	}
	say := func(text string) uint32 {
		t.Helper()
		if _, err := alice.SendGroup(ctx, id, text); err != nil {
			t.Fatal(err)
		}
		return client.SenderKeyID(alice, id)
	}
	first := say("one")
	if first == 0 || say("two") != first {
		t.Fatal("the sender key changed between two messages")
	}
	if err := alice.AddMembers(ctx, id, []string{"dave"}); err != nil {
		t.Fatal(err)
	}
	if say("dave joined") != first {
		t.Fatal("an add rotated the sender key")
	}
	b2, _ := bob2.Address()
	if err := bob.RevokeDevice(ctx, b2.Device); err != nil {
		t.Fatal(err)
	}
	afterRevoke := say("bob/2 is gone")
	if afterRevoke == first {
		t.Fatal("a revoked device still holds the sender key")
	}
	if err := alice.RemoveMembers(ctx, id, []string{"carol"}); err != nil {
		t.Fatal(err)
	}
	if say("carol is gone") == afterRevoke {
		t.Fatal("a removal did not rotate the sender key")
	}
	wantTexts(t, "bob/1", groupTexts(syncNow(t, bob), id), "alice: one", "alice: two", "alice: dave joined",
		"alice: bob/2 is gone", "alice: carol is gone")
	wantTexts(t, "carol", groupTexts(syncNow(t, carol), id), "alice: one", "alice: two", "alice: dave joined",
		"alice: bob/2 is gone")
}

// TestGroupKeyUnderAnotherIdentity: a sender key is accepted only from a
// session under the identity the group holds for its sender, so a relay
// that registers a device under another identity for bob cannot slip a
// key (and so messages) into the group as bob.
func TestGroupKeyUnderAnotherIdentity(t *testing.T) {
	t.Parallel()
	r := startRelay(t)
	alice, bob, carol := register(t, r, "alice"), register(t, r, "bob"), register(t, r, "carol")
	id := newGroup(t, alice, []string{"bob", "carol"}, bob, carol)
	ca, _ := carol.Address()
	ba, _ := bob.Address()
	key, err := client.HandOut(bob, id, ca)
	if err != nil || key == nil {
		t.Fatalf("HandOut: %v", err)
	}
	if err := client.DeliverKey(carol, ba, client.IdentityBytes(alice), key); err == nil {
		t.Fatal("a sender key under another identity than the group's was accepted")
	}
	if err := client.DeliverKey(carol, ba, client.IdentityBytes(bob), key); err != nil {
		t.Fatalf("the same key under bob's identity: %v", err)
	}
}
