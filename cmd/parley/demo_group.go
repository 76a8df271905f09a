package main

import (
	"errors"
	"fmt"
	"slices"

	"parley.dev/client"
)

// The group demo's messages, by sender; those after carol's removal are
// what she must never read.
var (
	groupBefore = [][2]string{
		{"alice", "Team lunch on Friday, who is in?"},
		{"bob", "Count me in."},
		{"carol", "Me too, and I will book the table."},
	}
	groupAfter = [][2]string{
		{"alice", "Carol moved to another team; the two of us still go."},
		{"bob", "Sure, noon at the usual place."},
	}
)

// runGroup is "parley demo --group": three users in a group, a removal,
// and the removed member unable to read what follows.
func (d *demo) runGroup() error {
	d.printf("Parley group demo: a relay and three users, alice, bob and carol, all in this process.")
	d.printf("Everything lives in %s%s.", d.dir, map[bool]string{true: " (kept)", false: " and is deleted at the end"}[d.keep])
	return d.steps([]demoStep{
		{"Start a relay (parleyd in dev mode, with its own local CA)", d.startRelay},
		{"Create and register alice's, bob's and carol's devices", d.groupDevices},
		{"alice creates the group \"lunch\" with bob and carol", d.groupCreate},
		{"Each writes once: one encryption per message, the relay fans it out", d.groupTalk},
		{"alice removes carol", d.groupRemove},
		{"alice and bob write again; carol syncs", d.groupAfterRemoval},
		{"Look at what the relay and the vaults stored on disk", d.groupInspect},
	})
}

func (d *demo) groupDevices() error {
	var err error
	for _, u := range []struct {
		name string
		cl   **client.Client
	}{{"alice", &d.alice}, {"bob", &d.bob}, {"carol", &d.carol}} {
		if *u.cl, err = d.newDevice(u.name); err != nil {
			return err
		}
		a, err := (*u.cl).Register(d.ctx, u.name, client.RegisterOptions{})
		if err != nil {
			return err
		}
		d.sayf("registered %s", a)
	}
	return nil
}

func (d *demo) groupMember(name string) *client.Client {
	return map[string]*client.Client{"alice": d.alice, "bob": d.bob, "carol": d.carol}[name]
}

func (d *demo) groupCreate() error {
	id, err := d.alice.CreateGroup(d.ctx, "lunch", []string{"bob", "carol"})
	if err != nil {
		return err
	}
	d.team = id
	d.sayf("group %s: alice signed its first state (members and admins) with her identity key", id)
	for _, name := range []string{"bob", "carol"} {
		evs, err := d.groupMember(name).Sync(d.ctx)
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(evs, func(e client.Event) bool { return e.Kind == client.EventGroupChanged }) {
			return fmt.Errorf("%s did not join the group", name)
		}
		ms, err := d.groupMember(name).Members(d.ctx, id)
		if err != nil {
			return err
		}
		d.sayf("%s joined, after checking alice's signature: %d members", name, len(ms))
	}
	return nil
}

func (d *demo) groupTalk() error {
	d.teamTexts = map[string]bool{}
	for _, m := range groupBefore {
		if _, err := d.groupMember(m[0]).SendGroup(d.ctx, d.team, m[1]); err != nil {
			return err
		}
		d.teamTexts[m[1]] = true
		d.sayf("%s -> lunch: %s", m[0], m[1])
	}
	for _, name := range []string{"alice", "bob", "carol"} {
		got, err := d.groupFetch(name)
		if err != nil {
			return err
		}
		if len(got) != 2 {
			return fmt.Errorf("%s read %d messages, want the other two", name, len(got))
		}
	}
	d.sayf("ok: each read the other two, once each")
	return nil
}

// groupFetch syncs one member and prints the group messages it read.
func (d *demo) groupFetch(name string) ([]string, error) {
	evs, err := d.groupMember(name).Sync(d.ctx)
	if err != nil {
		return nil, err
	}
	var got []string
	for _, e := range evs {
		switch {
		case e.Kind == client.EventMessage && e.Message.Group == d.team:
			d.sayf("%s reads  %s", name, formatMessage(name, e.Message))
			got = append(got, e.Message.Text)
		case e.Kind == client.EventGroupChanged:
			d.sayf("%s sees   %s", name, describeChange(e.Group))
		}
	}
	return got, nil
}

func (d *demo) groupRemove() error {
	if err := d.alice.RemoveMembers(d.ctx, d.team, []string{"carol"}); err != nil {
		return err
	}
	d.sayf("alice signed the removal; it names the hash of the state it replaces")
	d.sayf("every remaining device now starts a fresh sender key before it writes again,")
	d.sayf("and gives it to the remaining devices only")
	return nil
}

func (d *demo) groupAfterRemoval() error {
	for _, m := range groupAfter {
		if m[0] == "bob" {
			if _, err := d.groupFetch("bob"); err != nil {
				return err
			}
		}
		if _, err := d.groupMember(m[0]).SendGroup(d.ctx, d.team, m[1]); err != nil {
			return err
		}
		d.teamTexts[m[1]] = true
		d.sayf("%s -> lunch: %s", m[0], m[1])
	}
	if got, err := d.groupFetch("alice"); err != nil || len(got) != 1 {
		return fmt.Errorf("alice read %q (%v), want bob's message", got, err)
	}
	got, err := d.groupFetch("carol")
	if err != nil {
		return err
	}
	if len(got) > 0 {
		return fmt.Errorf("carol read %q after her removal", got)
	}
	g, err := d.carol.Group(d.ctx, d.team)
	if err != nil {
		return err
	}
	if g.Joined {
		return errors.New("carol still thinks she is a member")
	}
	if _, err := d.carol.SendGroup(d.ctx, d.team, "can I still write?"); !errors.Is(err, client.ErrNotGroupMember) {
		return fmt.Errorf("carol could still write: %v", err)
	}
	d.sayf("ok: carol read nothing written after her removal: nothing was sent to her devices, and")
	d.sayf("    the sender keys she holds stop before it (a relay that forwarded her the ciphertext")
	d.sayf("    anyway would get nothing: internal/group's TestAttackRemovedMemberCannotRead)")
	d.sayf("ok: her device knows it is out, and refuses to write to the group")
	return nil
}

func (d *demo) groupInspect() error {
	var needles []string
	for t := range d.teamTexts {
		needles = append(needles, t)
	}
	slices.Sort(needles)
	err := d.noCleartext(needles, []place{{"the relay", d.relayDir}, {"alice's vault", d.alice.Home},
		{"bob's vault", d.bob.Home}, {"carol's vault", d.carol.Home}})
	if err != nil {
		return err
	}
	d.sayf("ok: the relay held only ciphertext; it did learn which devices each message went to")
	return nil
}
