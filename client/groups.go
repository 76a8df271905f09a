package client

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"parley.dev/internal/addr"
	"parley.dev/internal/group"
	"parley.dev/internal/keys"
	"parley.dev/internal/vault"
)

// Groups: every member device keeps a copy of the group's signed,
// hash-chained membership (internal/group) and sends on its own sender
// key. Changes go out as signed control messages over the pairwise
// sessions; texts are sealed once and fanned out by the relay.

// Errors of group operations.
var (
	// ErrUnknownGroup: this device holds no group with that ID.
	ErrUnknownGroup = errors.New("client: unknown group")
	// ErrNotGroupMember: this user is not a member of the group (any
	// more); it can neither send to it nor change it.
	ErrNotGroupMember = errors.New("client: not a member of this group")
	// ErrNotGroupAdmin: only an admin of the group may do that.
	ErrNotGroupAdmin = errors.New("client: not an admin of this group")
	// ErrGroupRefused wraps why a received group change was refused
	// (EventGroupRefused): not signed by an admin, a fork or rollback of
	// the group's history, or lost to a concurrent change.
	ErrGroupRefused = errors.New("client: group change refused")
)

// GroupID names a group.
type GroupID [16]byte

// String returns the ID as 32 hex digits.
func (id GroupID) String() string { return hex.EncodeToString(id[:]) }

// IsZero reports whether id is the zero ID (no group).
func (id GroupID) IsZero() bool { return id == GroupID{} }

// ParseGroupID reads the form String writes.
func ParseGroupID(s string) (GroupID, error) {
	id, err := group.ParseID(s)
	if err != nil {
		return GroupID{}, fmt.Errorf("%w: group ID %q", ErrInvalid, s)
	}
	return GroupID(id), nil
}

// GroupMember is one member of a group.
type GroupMember struct {
	User  string
	Admin bool
}

// Group is what this device knows of a group: its current state.
type Group struct {
	ID      GroupID
	Name    string
	Epoch   uint64 // changes since the group was created
	Members []GroupMember
	// Joined reports that this user is a member; false once it left or
	// was removed (the group stays listed, read-only).
	Joined bool
	// Admin reports that this user is an admin.
	Admin bool
}

// GroupChange describes one change to a group.
type GroupChange struct {
	Group GroupID
	Name  string // the group's name after the change (or the proposed one)
	// Kind is "create", "add", "remove", "leave", "promote", "demote" or
	// "rename".
	Kind  string
	By    string   // who signed it
	Users []string // whom it concerns
	Epoch uint64
	Time  time.Time // the signer's clock
}

func publicChange(c *group.Change, name string) *GroupChange {
	gc := &GroupChange{Group: GroupID(c.Group()), Name: name, Kind: c.Kind().String(), By: string(c.Signer()),
		Epoch: c.Epoch(), Time: c.Time()}
	for _, u := range c.Users() {
		gc.Users = append(gc.Users, string(u))
	}
	if name == "" {
		gc.Name = c.Name()
	}
	return gc
}

func publicGroup(st *group.State, self addr.UserID) Group {
	g := Group{ID: GroupID(st.ID()), Name: st.Name(), Epoch: st.Epoch(), Joined: st.IsMember(self), Admin: st.IsAdmin(self)}
	for _, m := range st.Members() {
		g.Members = append(g.Members, GroupMember{User: string(m.User), Admin: m.Role == group.RoleAdmin})
	}
	return g
}

// CreateGroup creates a group named name with this user as its admin and
// users as members, and sends each member's devices (and this user's
// other devices) the signed create. It returns the new group's ID even
// when the relay could not be reached (ErrUnreachable): the create waits
// in the encrypted outbox. Each user's identity is the one this device
// trusts (as for Send); a verified contact whose identity changed is
// refused with ErrIdentityChanged.
func (c *Client) CreateGroup(ctx context.Context, name string, users []string) (GroupID, error) {
	v, a, err := c.registered()
	if err != nil {
		return GroupID{}, err
	}
	members, err := c.groupMembers(ctx, a, users)
	if err != nil {
		return GroupID{}, err
	}
	ch, _, err := group.Create(a.identity, a.self().User, name, members, c.clock())
	if err != nil {
		return GroupID{}, groupErr(err)
	}
	log, err := group.NewLog(ch)
	if err != nil {
		return GroupID{}, groupErr(err)
	}
	err = c.updateGroups(v, a, func(g *groupTx) error {
		r := group.NewReplica(a.self(), log)
		g.put(r)
		if err := putJSON(g.tx, nsGroups, ch.Group().String(), &groupRec{V: recordVersion}); err != nil {
			return err
		}
		if err := g.history(r, ch); err != nil {
			return err
		}
		return g.enqueueChange(ch, nil)
	})
	if err != nil {
		return GroupID{}, err
	}
	id := GroupID(ch.Group())
	_, err = c.flushNow(ctx)
	return id, err
}

// AddMembers adds users to a group; this user must be an admin. The new
// members' devices receive the state they join (not the history), the
// others the signed change.
func (c *Client) AddMembers(ctx context.Context, id GroupID, users []string) error {
	_, a, err := c.registered()
	if err != nil {
		return err
	}
	members, err := c.groupMembers(ctx, a, users)
	if err != nil {
		return err
	}
	return c.changeGroup(ctx, id, func(st *group.State, a *account) (*group.Change, *group.State, error) {
		return st.Add(a.identity, a.self().User, members, c.clock())
	})
}

// RemoveMembers removes users from a group; this user must be an admin
// (to leave, use LeaveGroup). Every remaining device starts a fresh
// sender key before it sends again, so the removed members cannot read
// what follows.
func (c *Client) RemoveMembers(ctx context.Context, id GroupID, users []string) error {
	us, err := userIDs(users)
	if err != nil {
		return err
	}
	return c.changeGroup(ctx, id, func(st *group.State, a *account) (*group.Change, *group.State, error) {
		return st.Remove(a.identity, a.self().User, us, c.clock())
	})
}

// LeaveGroup takes this user out of a group, on all its devices.
func (c *Client) LeaveGroup(ctx context.Context, id GroupID) error {
	return c.changeGroup(ctx, id, func(st *group.State, a *account) (*group.Change, *group.State, error) {
		return st.Leave(a.identity, a.self().User, c.clock())
	})
}

// SetAdmins makes users admins of a group (admin true) or plain members;
// this user must be an admin, and one admin must remain.
func (c *Client) SetAdmins(ctx context.Context, id GroupID, users []string, admin bool) error {
	us, err := userIDs(users)
	if err != nil {
		return err
	}
	return c.changeGroup(ctx, id, func(st *group.State, a *account) (*group.Change, *group.State, error) {
		if admin {
			return st.Promote(a.identity, a.self().User, us, c.clock())
		}
		return st.Demote(a.identity, a.self().User, us, c.clock())
	})
}

// RenameGroup renames a group; this user must be an admin.
func (c *Client) RenameGroup(ctx context.Context, id GroupID, name string) error {
	return c.changeGroup(ctx, id, func(st *group.State, a *account) (*group.Change, *group.State, error) {
		return st.Rename(a.identity, a.self().User, name, c.clock())
	})
}

// changeMaker makes a change to st as this device's user.
type changeMaker func(st *group.State, a *account) (*group.Change, *group.State, error)

// changeGroup makes a change from the group's current state, applies it
// here, records it in the group's history and queues it for every device
// concerned, in one transaction; then it sends the outbox.
func (c *Client) changeGroup(ctx context.Context, id GroupID, mk changeMaker) error {
	v, a, err := c.registered()
	if err != nil {
		return err
	}
	err = c.updateGroups(v, a, func(g *groupTx) error {
		r, err := g.replica(group.ID(id))
		if err != nil {
			return err
		}
		head := r.Head()
		if !head.IsMember(a.self().User) {
			return ErrNotGroupMember
		}
		ch, _, err := mk(head, a)
		if err != nil {
			return groupErr(err)
		}
		if _, err := r.ReceiveChange(ch); err != nil {
			return groupErr(err)
		}
		if err := g.history(r, ch); err != nil {
			return err
		}
		var w *group.Welcome
		if ch.Kind() == group.KindAdd {
			w = group.NewWelcome(head, ch)
		}
		return g.enqueueChange(ch, w)
	})
	if err != nil {
		return err
	}
	_, err = c.flushNow(ctx)
	return err
}

// groupMembers returns users with the identity this device trusts for
// each, as group members (trust on first use, as for Send).
func (c *Client) groupMembers(ctx context.Context, a *account, users []string) ([]group.Member, error) {
	us, err := userIDs(users)
	if err != nil {
		return nil, err
	}
	if slices.Contains(us, a.self().User) {
		return nil, fmt.Errorf("%w: you are in the group already", ErrInvalid)
	}
	rc, err := c.relayClient()
	if err != nil {
		return nil, err
	}
	lists, err := rc.DeviceLists(ctx, a.auth(), us)
	if err != nil {
		return nil, relayErr(err)
	}
	var ms []group.Member
	for _, u := range us {
		list := lists[u]
		if list == nil {
			return nil, fmt.Errorf("%w: %s", ErrUnknownUser, u)
		}
		id, err := keys.ParseIdentityPublic(list.Identity)
		if err != nil {
			return nil, fmt.Errorf("client: relay sent a malformed identity for %s: %w", u, err)
		}
		var held bool
		var change *IdentityChange
		err = c.updateVault(func(tx *vault.Tx) error {
			held, change, err = observeIdentity(tx, u, id)
			return err
		})
		if err != nil {
			return nil, err
		}
		if change != nil {
			c.emitEvent(Event{Kind: EventIdentityChanged, Identity: change})
		}
		if held {
			return nil, fmt.Errorf("%w: %s", ErrIdentityChanged, u)
		}
		ms = append(ms, group.Member{User: u, Identity: id})
	}
	return ms, nil
}

func userIDs(users []string) ([]addr.UserID, error) {
	if len(users) == 0 {
		return nil, fmt.Errorf("%w: no users named", ErrInvalid)
	}
	out := make([]addr.UserID, 0, len(users))
	for _, u := range users {
		id, err := addr.ParseUserID(u)
		if err != nil {
			return nil, fmt.Errorf("%w: user name %q", ErrInvalid, u)
		}
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out, nil
}

// Groups lists the groups this device knows, current and left, by name.
func (c *Client) Groups(ctx context.Context) ([]Group, error) {
	v, a, err := c.registered()
	if err != nil {
		return nil, err
	}
	var out []Group
	err = c.updateGroups(v, a, func(g *groupTx) error {
		recs, err := g.tx.List(nsGroups)
		if err != nil {
			return err
		}
		for _, rec := range recs {
			id, err := group.ParseID(rec.Key)
			if err != nil {
				return fmt.Errorf("client: group index: %w", err)
			}
			r, err := g.replica(id)
			if err != nil {
				return err
			}
			out = append(out, publicGroup(r.Head(), a.self().User))
		}
		return nil
	})
	slices.SortStableFunc(out, func(x, y Group) int {
		if x.Name != y.Name {
			if x.Name < y.Name {
				return -1
			}
			return 1
		}
		return slices.Compare(x.ID[:], y.ID[:])
	})
	return out, err
}

// Group returns one group's current state.
func (c *Client) Group(ctx context.Context, id GroupID) (Group, error) {
	v, a, err := c.registered()
	if err != nil {
		return Group{}, err
	}
	var out Group
	err = c.updateGroups(v, a, func(g *groupTx) error {
		r, err := g.replica(group.ID(id))
		if err == nil {
			out = publicGroup(r.Head(), a.self().User)
		}
		return err
	})
	return out, err
}

// Members returns a group's members, by user ID.
func (c *Client) Members(ctx context.Context, id GroupID) ([]GroupMember, error) {
	g, err := c.Group(ctx, id)
	return g.Members, err
}

// groupErr maps internal/group errors to the SDK's.
func groupErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, group.ErrUnauthorized):
		return fmt.Errorf("%w: %v", ErrNotGroupAdmin, err)
	case errors.Is(err, group.ErrNotMember):
		return fmt.Errorf("%w: %v", ErrNotGroupMember, err)
	case errors.Is(err, group.ErrInvalidChange), errors.Is(err, group.ErrTooLarge), errors.Is(err, group.ErrMalformed):
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return err
}
