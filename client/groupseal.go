package client

// Sealing a group outbox item: one transaction hands out sender keys,
// seals the text once or each control message per device, and saves the
// advanced sessions with the item (see groupsend.go for the whole path).

import (
	"errors"
	"slices"

	"parley.dev/client/internal/content"
	"parley.dev/internal/addr"
	"parley.dev/internal/group"
	"parley.dev/internal/keys"
	"parley.dev/internal/session"
	"parley.dev/internal/vault"
)

// sealItem seals it within one transaction (see the top of groupsend.go).
func (g *groupTx) sealItem(gid group.ID, it *groupOutItem, plan *groupPlan, fresh map[addr.Address]*session.Session) error {
	r, err := g.replica(gid)
	if err != nil {
		return err
	}
	if it.Text != "" && r.Head().Hash() != plan.head {
		return errHeadMoved
	}
	if _, err := g.tx.Get(nsGroupOut, it.key); notFound(err) {
		return errItemGone // swept since the flush read it: not sealed
	} else if err != nil {
		return err
	}
	lists, err := loadLists(g.tx, plan.targets, fresh)
	if err != nil {
		return err
	}
	ready := &groupReady{}
	if it.Text != "" {
		err = g.sealText(r, it, plan, lists, ready)
	} else {
		err = g.sealChange(it, plan, lists, ready)
	}
	if err != nil {
		return err
	}
	for a, l := range lists {
		if err := l.save(g.tx, a); err != nil {
			return err
		}
	}
	it.Ready = ready
	return putJSON(g.tx, nsGroupOut, it.key, it)
}

// loadLists reads the session lists of the targets, a fresh session first.
func loadLists(tx *vault.Tx, ts []target, fresh map[addr.Address]*session.Session) (map[addr.Address]sessionList, error) {
	lists := make(map[addr.Address]sessionList, len(ts))
	for _, t := range ts {
		l, err := loadSessions(tx, t.addr)
		if err != nil {
			return nil, err
		}
		if s := fresh[t.addr]; s != nil {
			l = l.withFirst(s)
		}
		lists[t.addr] = l
	}
	return lists, nil
}

// sealText hands out this device's sender key where needed and seals the
// text once.
func (g *groupTx) sealText(r *group.Replica, it *groupOutItem, plan *groupPlan, lists map[addr.Address]sessionList, ready *groupReady) error {
	ident := map[addr.Address]keys.IdentityPublic{}
	recipients := make([]addr.Address, 0, len(plan.targets))
	for _, t := range plan.targets {
		ident[t.addr] = t.identity
		recipients = append(recipients, t.addr)
	}
	reachable := func(a addr.Address) bool { return lists[a].forIdentity(ident[a]) != nil }
	handouts, rotated, err := r.PrepareSend(recipients, reachable)
	if err != nil {
		return groupErr(err)
	}
	if rotated {
		g.c.log.Info("group: new sender key", "group", r.ID().String())
	}
	sent := msTime(it.Sent)
	for _, h := range handouts {
		db, err := h.Distribution.MarshalBinary()
		if err != nil {
			return err
		}
		m := &content.Message{Kind: content.KindGroupKey, ID: addr.NewMessageID(), Sent: sent, Body: db}
		env, err := sealControl(lists[h.To], ident[h.To], h.To, m)
		clear(db)
		if err != nil {
			return err
		}
		ready.Controls = append(ready.Controls, env)
	}
	mid, err := addr.ParseMessageID(it.ID)
	if err != nil {
		return err
	}
	pt, err := content.Marshal(&content.Message{Kind: content.KindGroupText, ID: mid, Sent: sent, Text: it.Text})
	if err != nil {
		return err
	}
	if ready.Message, err = r.Seal(pt); err != nil {
		return groupErr(err)
	}
	for _, a := range r.Holders() {
		if slices.Contains(recipients, a) {
			ready.To = append(ready.To, a.String())
		}
	}
	return nil
}

// sealChange seals a change (or the welcome, for users it adds and for
// this user's own new devices) for each target device.
func (g *groupTx) sealChange(it *groupOutItem, plan *groupPlan, lists map[addr.Address]sessionList, ready *groupReady) error {
	var own, missed []string
	for _, t := range plan.targets {
		m := &content.Message{Kind: content.KindGroupChange, ID: addr.NewMessageID(), Sent: msTime(it.Sent), Body: it.Change}
		if plan.welcome[t.addr.User] {
			m.Kind, m.Body = content.KindGroupWelcome, it.Welcome
		}
		if len(m.Body) == 0 {
			continue
		}
		env, err := sealControl(lists[t.addr], t.identity, t.addr, m)
		if errors.Is(err, errNoSession) {
			g.c.log.Warn("group: no session with a device; it misses a change", "device", t.addr.String())
			if t.addr.User == g.a.self().User {
				missed = append(missed, t.addr.String()) // welcomed again at a later flush
			}
			continue
		}
		if err != nil {
			return err
		}
		ready.Controls = append(ready.Controls, env)
		if t.addr.User == g.a.self().User && m.Kind == content.KindGroupWelcome {
			own = append(own, t.addr.String())
		}
	}
	if err := g.markWelcomed(it.Group, own, true); err != nil {
		return err
	}
	return g.markWelcomed(it.Group, missed, false)
}

// markWelcomed records this user's devices that were sent a group's state
// (or, with sent false, that could not be).
func (g *groupTx) markWelcomed(gid string, devices []string, sent bool) error {
	if len(devices) == 0 {
		return nil
	}
	var rec groupRec
	if err := getJSON(g.tx, nsGroups, gid, &rec); err != nil && !notFound(err) {
		return err
	}
	rec.V = recordVersion
	for _, d := range devices {
		has := slices.Contains(rec.Welcomed, d)
		switch {
		case sent && !has:
			rec.Welcomed = append(rec.Welcomed, d)
		case !sent && has:
			rec.Welcomed = slices.DeleteFunc(rec.Welcomed, func(x string) bool { return x == d })
		}
	}
	return putJSON(g.tx, nsGroups, gid, &rec)
}

var errNoSession = errors.New("client: no session with the device")

// sealControl encrypts a control message for one device.
func sealControl(l sessionList, id keys.IdentityPublic, to addr.Address, m *content.Message) (groupEnvelope, error) {
	s := l.forIdentity(id)
	if s == nil {
		return groupEnvelope{}, errNoSession
	}
	pt, err := content.Marshal(m)
	if err != nil {
		return groupEnvelope{}, err
	}
	ct, err := s.Encrypt(pt)
	clear(pt)
	if err != nil {
		return groupEnvelope{}, err
	}
	return groupEnvelope{To: to.String(), ID: m.ID.String(), Payload: ct}, nil
}
