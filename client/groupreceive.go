package client

import (
	"encoding/json"
	"errors"
	"fmt"

	"parley.dev/client/internal/content"
	"parley.dev/internal/addr"
	"parley.dev/internal/group"
	"parley.dev/internal/keys"
	"parley.dev/internal/wire"
)

// Receiving for groups, inside the receive pipeline's transaction (see
// receive.go): group messages (Deliver kind KindGroup) go to the group's
// replica; control messages (a change, a welcome, a sender key) arrive in
// pairwise sessions, whose sender the session authenticated. What names a
// group this device does not hold yet waits as an orphan until the welcome
// that brings the group arrives (the relay may deliver in any order).

// groupDrop is a group item that will never be read: acknowledged and
// dropped, silently if it is a duplicate.
type groupDrop struct {
	err       error
	duplicate bool
}

func (e *groupDrop) Error() string { return e.err.Error() }

// orphanRec is a group control or message for a group not held yet.
type orphanRec struct {
	V        int    `json:"v"`
	Group    string `json:"group"`
	Kind     string `json:"kind"` // "change", "welcome", "key", "message"
	From     string `json:"from"`
	Identity []byte `json:"identity,omitempty"` // the session's, for a key
	Body     []byte `json:"body"`
}

// groups returns the batch's group transaction.
func (sc *sessionCache) groupTx(c *Client, a *account) *groupTx {
	if sc.groups == nil {
		sc.groups = c.newGroupTx(sc.tx, a)
	}
	return sc.groups
}

// receiveGroupMessage handles a group message.
func (c *Client) receiveGroupMessage(sc *sessionCache, a *account, d *wire.Deliver) (received, error) {
	m, err := group.ParseMessage(d.Payload)
	switch {
	case err != nil:
		return c.dropped(d, err), nil
	case m.Sender != d.From:
		return c.dropped(d, fmt.Errorf("a group message of %s delivered as from %s", m.Sender, d.From)), nil
	}
	g := sc.groupTx(c, a)
	var r received
	err = g.deliver(orphanRec{Group: m.Group.String(), Kind: "message", From: d.From.String(), Body: d.Payload}, &r)
	var drop *groupDrop
	if errors.As(err, &drop) {
		if drop.duplicate {
			return received{duplicate: true}, nil
		}
		return c.dropped(d, drop.err), nil
	}
	return r, err
}

// fileGroupControl handles a control message m that the session with
// device from (under identity sender) carried.
func (c *Client) fileGroupControl(sc *sessionCache, a *account, from addr.Address, sender keys.IdentityPublic, m *content.Message, r *received) error {
	o := orphanRec{From: from.String(), Body: m.Body}
	var gid group.ID
	switch m.Kind {
	case content.KindGroupChange:
		ch, err := group.ParseChange(m.Body)
		if err != nil {
			r.unread = err
			return nil
		}
		o.Kind, gid = "change", ch.Group()
	case content.KindGroupWelcome:
		w, err := group.ParseWelcome(m.Body)
		if err != nil {
			r.unread = err
			return nil
		}
		o.Kind, gid = "welcome", w.Change().Group()
	case content.KindGroupKey:
		d, err := group.ParseDistribution(m.Body)
		if err != nil {
			r.unread = err
			return nil
		}
		o.Kind, gid, o.Identity = "key", d.Group, sender.Bytes()
	}
	o.Group = gid.String()
	err := sc.groupTx(c, a).deliver(o, r)
	var drop *groupDrop
	if errors.As(err, &drop) {
		if !drop.duplicate {
			r.unread = drop.err
		}
		return nil
	}
	return err
}

// deliver hands one item to its group's replica, or keeps it as an
// orphan. It returns a *groupDrop for an item that will never be read.
func (g *groupTx) deliver(o orphanRec, r *received) error {
	gid, err := group.ParseID(o.Group)
	if err != nil {
		return &groupDrop{err: err}
	}
	rep, err := g.lookup(gid)
	if err != nil {
		return err
	}
	if rep == nil && o.Kind != "welcome" {
		return g.keepOrphan(o)
	}
	from, err := addr.ParseAddress(o.From)
	if err != nil {
		return &groupDrop{err: err}
	}
	switch o.Kind {
	case "change":
		return g.change(rep, o.Body, r)
	case "welcome":
		return g.welcome(rep, gid, from, o.Body, r)
	case "key":
		return g.key(rep, from, o.Identity, o.Body, r)
	case "message":
		return g.message(rep, o.Body, r)
	}
	return &groupDrop{err: fmt.Errorf("client: unknown group item %q", o.Kind)}
}

func (g *groupTx) change(rep *group.Replica, body []byte, r *received) error {
	ch, err := group.ParseChange(body)
	if err != nil {
		return &groupDrop{err: err}
	}
	u, err := rep.ReceiveChange(ch)
	if err != nil {
		return g.refused(rep, ch, err, r)
	}
	return g.updated(rep, u, r)
}

// refused reports a change that was not applied (a duplicate silently).
func (g *groupTx) refused(rep *group.Replica, ch *group.Change, err error, r *received) error {
	if errors.Is(err, group.ErrDuplicate) {
		return &groupDrop{err: err, duplicate: true}
	}
	g.c.log.Warn("group change refused", "group", ch.Group().String(), "err", err)
	r.events = append(r.events, Event{Kind: EventGroupRefused, Group: publicChange(ch, ""),
		Err: fmt.Errorf("%w: %v", ErrGroupRefused, err)})
	return nil
}

// updated files what a replica call produced: applied changes, changes
// refused or lost, messages opened or dropped.
func (g *groupTx) updated(rep *group.Replica, u group.Update, r *received) error {
	for _, ch := range u.Result.Applied {
		if err := g.history(rep, ch); err != nil {
			return err
		}
		r.events = append(r.events, Event{Kind: EventGroupChanged, Group: publicChange(ch, rep.Head().Name())})
	}
	if u.Result.Lost != nil {
		r.events = append(r.events, Event{Kind: EventGroupRefused, Group: publicChange(u.Result.Lost, ""),
			Err: fmt.Errorf("%w: %v", ErrGroupRefused, group.ErrConflict)})
	}
	for _, rf := range u.Result.Refused {
		r.events = append(r.events, Event{Kind: EventGroupRefused, Group: publicChange(rf.Change, ""),
			Err: fmt.Errorf("%w: %v", ErrGroupRefused, rf.Err)})
	}
	for _, o := range u.Opened {
		if err := g.fileText(rep, o, r); err != nil {
			return err
		}
	}
	for _, d := range u.Dropped {
		g.c.log.Warn("group message dropped", "group", rep.ID().String(), "from", d.Message.Sender.String(), "err", d.Err)
		r.events = append(r.events, Event{Kind: EventError,
			Err: fmt.Errorf("%w: group message from %s: %v", ErrUnreadable, d.Message.Sender, d.Err)})
	}
	return nil
}

// fileText stores an opened group message in the group's history, unless
// its ID is there already.
func (g *groupTx) fileText(rep *group.Replica, o group.Opened, r *received) error {
	m, err := content.Parse(o.Plaintext)
	if err != nil || m.Kind != content.KindGroupText {
		g.c.log.Warn("group message content refused", "from", o.Message.Sender.String())
		r.events = append(r.events, Event{Kind: EventError,
			Err: fmt.Errorf("%w: group message from %s: not a group text", ErrUnreadable, o.Message.Sender)})
		return nil
	}
	ns := groupHistoryNS(rep.ID())
	if _, err := g.tx.Get(ns, m.ID.String()); err == nil {
		return nil // the same message ID again
	} else if !notFound(err) {
		return err
	}
	from := o.Message.Sender.User
	h := groupHistoryRec{V: recordVersion, ID: m.ID.String(), From: string(from), Outgoing: from == g.a.self().User,
		Text: m.Text, Sent: m.Sent.UnixMilli(), Received: g.c.clock().UnixMilli(), Status: StatusReceived,
		Ord: g.c.order()}
	if h.Outgoing {
		h.Status = StatusSent
	}
	if err := putJSON(g.tx, ns, h.ID, &h); err != nil {
		return err
	}
	msg := h.message(rep.ID(), rep.Head().Name())
	r.events = append(r.events, Event{Kind: EventMessage, Message: &msg})
	return nil
}

func (g *groupTx) message(rep *group.Replica, body []byte, r *received) error {
	m, err := group.ParseMessage(body)
	if err != nil {
		return &groupDrop{err: err}
	}
	u, err := rep.ReceiveMessage(m)
	if err != nil {
		return &groupDrop{err: err, duplicate: errors.Is(err, group.ErrDuplicate)}
	}
	return g.updated(rep, u, r)
}

// key accepts a sender key from device from, whose session presented
// identity sessionID: it must be the identity the group holds for from's
// user, so that the relay cannot slip in a key under another identity.
func (g *groupTx) key(rep *group.Replica, from addr.Address, sessionID, body []byte, r *received) error {
	d, err := group.ParseDistribution(body)
	if err != nil {
		return &groupDrop{err: err}
	}
	st, ok := rep.Log().State(d.Epoch, d.State)
	if !ok {
		st = rep.Head()
	}
	if m, ok := st.Member(from.User); ok && (sessionID == nil || !sameIdentity(m.Identity, sessionID)) {
		return &groupDrop{err: fmt.Errorf("a sender key from %s under another identity than the group's", from)}
	}
	u, err := rep.ReceiveDistribution(d, from)
	if err != nil {
		return &groupDrop{err: err, duplicate: errors.Is(err, group.ErrDuplicate)}
	}
	return g.updated(rep, u, r)
}

func sameIdentity(id keys.IdentityPublic, b []byte) bool {
	other, err := keys.ParseIdentityPublic(b)
	return err == nil && other.Equal(id)
}

// welcome joins a group (or brings a held one forward).
func (g *groupTx) welcome(rep *group.Replica, gid group.ID, from addr.Address, body []byte, r *received) error {
	w, err := group.ParseWelcome(body)
	if err != nil {
		return &groupDrop{err: err}
	}
	if rep != nil {
		u, err := rep.ReceiveWelcome(w, from)
		if err != nil && from.User == g.a.self().User && (errors.Is(err, group.ErrRollback) || errors.Is(err, group.ErrDuplicate)) {
			return &groupDrop{err: err, duplicate: true} // another of this user's devices was behind
		}
		if err != nil {
			return g.refused(rep, w.Change(), err, r)
		}
		return g.updated(rep, u, r)
	}
	return g.join(gid, from, w, r)
}

// join starts a replica from a welcome that device from sent.
func (g *groupTx) join(gid group.ID, from addr.Address, w *group.Welcome, r *received) error {
	self := g.a.self()
	if from.User != w.Change().Signer() && from.User != self.User {
		return g.refused(nil, w.Change(), fmt.Errorf("%w: a welcome signed by %s sent by %s", group.ErrUnauthorized, w.Change().Signer(), from.User), r)
	}
	log, err := group.Join(w)
	if err != nil {
		return g.refused(nil, w.Change(), err, r)
	}
	if !log.Head().IsMember(self.User) {
		return g.refused(nil, w.Change(), fmt.Errorf("%w: a welcome into a group without this user", group.ErrNotMember), r)
	}
	rep := group.NewReplica(self, log)
	g.put(rep)
	if err := putJSON(g.tx, nsGroups, gid.String(), &groupRec{V: recordVersion}); err != nil {
		return err
	}
	if err := g.updated(rep, group.Update{Result: group.Result{Applied: []*group.Change{w.Change()}}}, r); err != nil {
		return err
	}
	return g.adoptOrphans(gid, r)
}

// keepOrphan stores an item for a group not held yet, dropping the
// oldest beyond maxOrphans.
func (g *groupTx) keepOrphan(o orphanRec) error {
	recs, err := g.tx.List(nsGroupOrphans)
	if err != nil {
		return err
	}
	for i := 0; i <= len(recs)-maxOrphans; i++ {
		if err := g.tx.Delete(nsGroupOrphans, recs[i].Key); err != nil {
			return err
		}
	}
	o.V = recordVersion
	return putJSON(g.tx, nsGroupOrphans, outboxKey(g.c.clock(), addr.NewMessageID()), &o)
}

// adoptOrphans delivers what waited for the group just joined.
func (g *groupTx) adoptOrphans(gid group.ID, r *received) error {
	recs, err := g.tx.List(nsGroupOrphans)
	if err != nil {
		return err
	}
	for _, rec := range recs {
		var o orphanRec
		if err := json.Unmarshal(rec.Value, &o); err != nil || o.Group != gid.String() {
			continue
		}
		if err := g.tx.Delete(nsGroupOrphans, rec.Key); err != nil {
			return err
		}
		var drop *groupDrop
		if err := g.deliver(o, r); err != nil && !errors.As(err, &drop) {
			return err
		}
	}
	return nil
}

// saveGroups saves the replicas the batch touched, before it commits.
func (sc *sessionCache) saveGroups() error {
	if sc.groups == nil {
		return nil
	}
	return sc.groups.save()
}

// keepGroups keeps the batch's replicas in memory if it committed, and
// forgets them if it did not.
func (c *Client) keepGroups(sc *sessionCache, committed bool) {
	if sc != nil && sc.groups != nil {
		c.groups.set(sc.groups.touched, committed)
	}
}
