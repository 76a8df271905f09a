package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"

	"parley.dev/internal/addr"
	"parley.dev/internal/group"
	"parley.dev/internal/keys"
	"parley.dev/internal/vault"
	"parley.dev/internal/wire"
)

// Sending to a group goes through the group outbox, like Send through the
// outbox: the item is stored first (a text, or a change already applied
// here), then each flush
//  1. lists the devices of the members (certified by the identity the
//     group state holds for each) and starts sessions where needed;
//  2. in ONE transaction, hands this device's sender key to the devices
//     that lack it (a rotation first, after a removal or a revoked
//     device) and seals the text once, or seals the change or welcome
//     for each device, and saves the pairwise envelopes and the group
//     message with the advanced sessions and replica;
//  3. submits the pairwise envelopes, then the group message once for all
//     its recipients (GroupSubmit), and forgets what the relay answered.

// groupOutItem is one text or change waiting for the relay.
type groupOutItem struct {
	V     int    `json:"v"`
	Group string `json:"group"`
	ID    string `json:"id"`
	Sent  int64  `json:"sent"`
	// Text: a message to the group. Change: a change (applied here
	// already). Welcome: for a change that adds users, or a create, what
	// the users it adds receive; with To, a welcome into the current
	// state for these devices of this user only.
	Text    string      `json:"text,omitempty"`
	Name    string      `json:"name,omitempty"` // the group's name, for the text's events
	Change  []byte      `json:"change,omitempty"`
	Welcome []byte      `json:"welcome,omitempty"`
	To      []string    `json:"to,omitempty"`
	Ready   *groupReady `json:"ready,omitempty"`
	// Stored counts the devices the relay stored the text for.
	Stored int `json:"stored,omitempty"`

	key string
}

// groupReady is an item sealed and waiting for the relay's answers.
type groupReady struct {
	Controls []groupEnvelope `json:"controls,omitempty"` // pairwise
	Message  []byte          `json:"message,omitempty"`  // the sealed group message
	To       []string        `json:"to,omitempty"`       // its recipients not answered yet
}

// groupEnvelope is one pairwise control message for one device.
type groupEnvelope struct {
	To      string `json:"to"`
	ID      string `json:"id"`
	Payload []byte `json:"payload"`
}

// SendGroup writes text to a group. Like Send, it stores the message in
// the group's history and the encrypted outbox first, then sends: the
// text is encrypted once under this device's sender key and the relay
// stores it for every device of every member. The ID is valid whenever
// the message was stored (nil error, or ErrUnreachable: it goes out on
// the next Send, Sync or Listen). While the device breaks the tenant's
// policy it refuses with a *PolicyError, as Send does.
func (c *Client) SendGroup(ctx context.Context, id GroupID, text string) (MessageID, error) {
	v, a, err := c.registered()
	if err != nil {
		return MessageID{}, err
	}
	if text == "" || len(text) > MaxTextLen || !utf8.ValidString(text) {
		return MessageID{}, fmt.Errorf("%w: text must be 1 to %d bytes of UTF-8", ErrInvalid, MaxTextLen)
	}
	if err := c.checkOutgoing(); err != nil {
		return MessageID{}, err
	}
	mid := addr.NewMessageID()
	now := c.clock()
	err = c.updateGroups(v, a, func(g *groupTx) error {
		r, err := g.replica(group.ID(id))
		if err != nil {
			return err
		}
		if !r.Head().IsMember(a.self().User) {
			return ErrNotGroupMember
		}
		h := groupHistoryRec{V: recordVersion, ID: mid.String(), From: string(a.self().User), Outgoing: true,
			Text: text, Sent: now.UnixMilli(), Received: now.UnixMilli(), Status: StatusQueued, Ord: g.c.order()}
		if err := putJSON(g.tx, groupHistoryNS(r.ID()), h.ID, &h); err != nil {
			return err
		}
		it := groupOutItem{V: recordVersion, Group: id.String(), ID: mid.String(), Sent: now.UnixMilli(), Text: text,
			Name: r.Head().Name()}
		return putJSON(g.tx, nsGroupOut, outboxKey(now, mid), &it)
	})
	if err != nil {
		return MessageID{}, err
	}
	_, err = c.flushNow(ctx)
	return MessageID(mid), err
}

// enqueueChange queues a change (and, for users it adds, a welcome) for
// every device concerned.
func (g *groupTx) enqueueChange(ch *group.Change, w *group.Welcome) error {
	mid := addr.NewMessageID()
	now := g.c.clock()
	it := groupOutItem{V: recordVersion, Group: ch.Group().String(), ID: mid.String(), Sent: now.UnixMilli(),
		Change: mustBytes(ch.MarshalBinary())}
	if ch.Kind() == group.KindCreate {
		w = group.NewWelcome(nil, ch)
	}
	if w != nil {
		it.Welcome = mustBytes(w.MarshalBinary())
	}
	return putJSON(g.tx, nsGroupOut, outboxKey(now, mid), &it)
}

func mustBytes(b []byte, err error) []byte {
	if err != nil {
		panic("client: encoding a group value cannot fail: " + err.Error())
	}
	return b
}

func loadGroupOutbox(v *vault.Vault) ([]*groupOutItem, error) {
	recs, err := v.List(nsGroupOut)
	if err != nil {
		return nil, vaultErr(err)
	}
	return decodeGroupOutbox(recs)
}

// decodeGroupOutbox decodes the records of the group outbox.
func decodeGroupOutbox(recs []vault.Record) ([]*groupOutItem, error) {
	items := make([]*groupOutItem, 0, len(recs))
	for _, r := range recs {
		it := &groupOutItem{key: r.Key}
		if err := json.Unmarshal(r.Value, it); err != nil {
			return nil, fmt.Errorf("client: group outbox record: %w", err)
		}
		items = append(items, it)
	}
	return items, nil
}

// flushGroups sends the group outbox, after giving the state of each
// group to this user's devices that do not have it yet. It returns an
// error only when the connection failed; other failures are events.
func (f *flusher) flushGroups(ctx context.Context) error {
	if err := f.welcomeOwnDevices(ctx); err != nil {
		return err
	}
	items, err := loadGroupOutbox(f.v)
	if err != nil {
		return err
	}
	for _, it := range items {
		err := f.flushGroupItem(ctx, it)
		switch {
		case err == nil:
		case errors.Is(err, ErrUnreachable), errors.Is(err, ErrNotOpen), ctx.Err() != nil:
			return err
		default:
			f.c.log.Warn("group outbox: item waits", "err", err)
			f.c.emitEvent(Event{Kind: EventError, Err: err})
		}
	}
	return nil
}

func (f *flusher) flushGroupItem(ctx context.Context, it *groupOutItem) error {
	if it.Ready == nil {
		if err := f.sealGroupItem(ctx, it); err != nil {
			if errors.Is(err, errItemGone) {
				return nil
			}
			return err
		}
	}
	f.c.runHook(func(h *testHooks) func() { return h.beforeGroupSubmit })
	return f.submitGroupItem(ctx, it)
}

// errItemGone: the sweep deleted a group outbox item not yet sealed (its
// message passed the retention) while the flush worked on another. The
// sweep never deletes a sealed item (see deleteGroupMessage).
var errItemGone = errors.New("client: group outbox item deleted")

// groupPlan is who one item goes to, read from the group's state.
type groupPlan struct {
	head    group.Hash
	targets []target
	welcome map[addr.UserID]bool // users that get the welcome, not the change
}

// errHeadMoved: the group changed between planning and sealing a text.
var errHeadMoved = errors.New("client: group changed while sending")

// sealGroupItem plans, starts sessions and seals one item.
func (f *flusher) sealGroupItem(ctx context.Context, it *groupOutItem) error {
	gid, err := group.ParseID(it.Group)
	if err != nil {
		return fmt.Errorf("client: group outbox item: %w", err)
	}
	for range 3 {
		plan, err := f.planGroupItem(ctx, gid, it)
		if err != nil {
			return f.failGroupItem(gid, it, err)
		}
		fresh, _, skipped, err := f.startSessions(ctx, plan.targets)
		if err != nil {
			return err
		}
		if skipped != nil {
			f.c.log.Warn("group: devices without a session skipped", "err", skipped)
		}
		err = f.c.updateGroups(f.v, f.a, func(g *groupTx) error {
			return g.sealItem(gid, it, plan, fresh)
		})
		if !errors.Is(err, errHeadMoved) {
			return err
		}
	}
	return errHeadMoved
}

// planGroupItem reads whom an item goes to and lists their devices.
func (f *flusher) planGroupItem(ctx context.Context, gid group.ID, it *groupOutItem) (*groupPlan, error) {
	var plan groupPlan
	var users map[addr.UserID]keys.IdentityPublic
	err := f.c.updateGroups(f.v, f.a, func(g *groupTx) error {
		r, err := g.replica(gid)
		if err != nil {
			return err
		}
		plan.head = r.Head().Hash()
		users, plan.welcome, err = f.itemUsers(r, it)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := f.prefetchLists(ctx, sortedUsers(users)); err != nil {
		return nil, err
	}
	for _, u := range sortedUsers(users) {
		ts, err := f.userDevices(ctx, u, users[u])
		if err != nil {
			return nil, err
		}
		for _, t := range ts {
			if t.addr != f.a.self() && (len(it.To) == 0 || slices.Contains(it.To, t.addr.String())) {
				plan.targets = append(plan.targets, t)
			}
		}
	}
	return &plan, nil
}

// itemUsers returns the users an item goes to, with the identity the
// group holds for each, and those that get the welcome.
func (f *flusher) itemUsers(r *group.Replica, it *groupOutItem) (map[addr.UserID]keys.IdentityPublic, map[addr.UserID]bool, error) {
	users := map[addr.UserID]keys.IdentityPublic{}
	welcome := map[addr.UserID]bool{}
	head := r.Head()
	if it.Change == nil { // a text, or a welcome for this user's devices
		if !head.IsMember(f.a.self().User) {
			return nil, nil, ErrNotGroupMember
		}
		for _, m := range head.Members() {
			if it.Text != "" || m.User == f.a.self().User {
				users[m.User] = m.Identity
			}
		}
		return users, map[addr.UserID]bool{f.a.self().User: it.Text == ""}, nil
	}
	ch, err := group.ParseChange(it.Change)
	if err != nil {
		return nil, nil, err
	}
	after, before, err := changeStates(r, ch)
	if err != nil {
		return nil, nil, err
	}
	for _, m := range after.Members() {
		users[m.User] = m.Identity
		if before == nil || !before.IsMember(m.User) {
			welcome[m.User] = true
		}
	}
	if before != nil {
		for _, m := range before.Members() {
			if _, ok := users[m.User]; !ok {
				users[m.User] = m.Identity // removed or left: told, to stop
			}
		}
	}
	return users, welcome, nil
}

// changeStates returns the states before (nil for a create) and after a
// change this device made.
func changeStates(r *group.Replica, ch *group.Change) (after, before *group.State, err error) {
	if ch.Kind() == group.KindCreate {
		after, err = group.Genesis(ch)
		return after, nil, err
	}
	before, ok := r.Log().State(ch.Epoch()-1, ch.Prev())
	if !ok {
		return nil, nil, fmt.Errorf("client: the state a queued change applies to is no longer held")
	}
	after, err = before.Apply(ch)
	return after, before, err
}

func sortedUsers(m map[addr.UserID]keys.IdentityPublic) []addr.UserID {
	out := make([]addr.UserID, 0, len(m))
	for u := range m {
		out = append(out, u)
	}
	slices.Sort(out)
	return out
}

// userDevices lists user's devices certified by id (the identity the
// group holds for user), through a short-lived cache.
func (f *flusher) userDevices(ctx context.Context, user addr.UserID, id keys.IdentityPublic) ([]target, error) {
	list, err := f.deviceList(ctx, user)
	if err != nil {
		if errors.Is(err, ErrUnknownUser) {
			return nil, nil // the user is gone: nothing to deliver
		}
		return nil, err
	}
	listed, err := keys.ParseIdentityPublic(list.Identity)
	if err != nil || !listed.Equal(id) {
		f.c.log.Warn("group: the relay lists another identity for a member; their devices are skipped", "user", string(user))
		f.c.emitEvent(Event{Kind: EventError, Err: fmt.Errorf("%w: %s has another identity than the one a group "+
			"admin added; their devices get nothing from the group until an admin removes and adds them again", ErrIdentityChanged, user)})
		return nil, nil
	}
	return f.c.certified(list, id, user == f.a.self().User), nil
}

// failGroupItem drops an item that can never be sent and reports it.
func (f *flusher) failGroupItem(gid group.ID, it *groupOutItem, cause error) error {
	if !errors.Is(cause, ErrNotGroupMember) && !errors.Is(cause, ErrUnknownGroup) {
		return cause
	}
	var m *Message
	err := f.c.updateVault(func(tx *vault.Tx) error {
		m = nil
		if err := tx.Delete(nsGroupOut, it.key); err != nil {
			return err
		}
		if it.Text == "" {
			return nil
		}
		h, err := setGroupStatus(tx, gid, it.ID, StatusFailed)
		if h != nil {
			msg := h.message(gid, it.Name)
			m = &msg
		}
		return err
	})
	if err != nil {
		return err
	}
	if m != nil {
		f.c.emitEvent(Event{Kind: EventError, Message: m, Err: cause})
	}
	return nil
}

func setGroupStatus(tx *vault.Tx, gid group.ID, id string, s Status) (*groupHistoryRec, error) {
	var h groupHistoryRec
	err := getJSON(tx, groupHistoryNS(gid), id, &h)
	if notFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	h.Status = s
	return &h, putJSON(tx, groupHistoryNS(gid), id, &h)
}

// submitGroupItem sends a sealed item: its pairwise envelopes, then its
// group message, and records what the relay answered.
func (f *flusher) submitGroupItem(ctx context.Context, it *groupOutItem) error {
	subs := make([]*wire.Submit, 0, len(it.Ready.Controls))
	for _, e := range it.Ready.Controls {
		to, err1 := addr.ParseAddress(e.To)
		id, err2 := addr.ParseMessageID(e.ID)
		if err := errors.Join(err1, err2); err != nil {
			return err
		}
		subs = append(subs, &wire.Submit{To: to, ID: id, Payload: e.Payload})
	}
	results, connErr := f.c.submitVia(ctx, f.conn, subs)
	var left []groupEnvelope
	for i, e := range it.Ready.Controls {
		var r *wire.SubmitResult
		if i < len(results) {
			r = results[i]
		}
		if classifyResult(r) == pending {
			left = append(left, e)
		}
	}
	it.Ready.Controls = left
	if connErr == nil && len(it.Ready.Message) > 0 && len(it.Ready.To) > 0 {
		connErr = f.submitGroupMessage(ctx, it)
	}
	if err := f.settleGroupItem(it); err != nil {
		return err
	}
	return relayErr(connErr)
}

// submitGroupMessage submits the group message to the recipients not
// answered yet, keeping those to retry.
func (f *flusher) submitGroupMessage(ctx context.Context, it *groupOutItem) error {
	id, err := addr.ParseMessageID(it.ID)
	if err != nil {
		return err
	}
	to := make([]addr.Address, 0, len(it.Ready.To))
	for _, s := range it.Ready.To {
		a, err := addr.ParseAddress(s)
		if err != nil {
			return err
		}
		to = append(to, a)
	}
	res, err := f.conn.SubmitGroup(ctx, id, it.Ready.Message, to)
	if err != nil {
		return err
	}
	var left []string
	for _, fl := range res.Failures {
		if classifyResult(&wire.SubmitResult{Code: fl.Code}) == pending {
			left = append(left, fl.To.String())
		}
	}
	it.Stored += int(res.Stored)
	it.Ready.To = left
	return nil
}

// settleGroupItem saves an item with what is left to send, or retires it.
func (f *flusher) settleGroupItem(it *groupOutItem) error {
	done := len(it.Ready.Controls) == 0 && len(it.Ready.To) == 0
	var ev *Event
	err := f.c.updateVault(func(tx *vault.Tx) error {
		ev = nil
		if !done {
			return putJSON(tx, nsGroupOut, it.key, it)
		}
		if err := tx.Delete(nsGroupOut, it.key); err != nil {
			return err
		}
		if it.Text == "" {
			return nil
		}
		gid, err := group.ParseID(it.Group)
		if err != nil {
			return err
		}
		h, err := setGroupStatus(tx, gid, it.ID, StatusSent)
		if h != nil {
			m := h.message(gid, it.Name)
			ev = &Event{Kind: EventSent, Message: &m}
		}
		return err
	})
	if err == nil && ev != nil {
		f.c.emitEvent(*ev)
	}
	return err
}

// welcomeOwnDevices gives the current state of every group this user is
// in to its devices that have not been sent it (a device linked since):
// the state, not the history.
func (f *flusher) welcomeOwnDevices(ctx context.Context) error {
	if recs, err := f.v.List(nsGroups); err != nil || len(recs) == 0 {
		return vaultErr(err) // no group: no need to list this user's devices
	}
	own, err := f.ownDevices(ctx)
	if err != nil || len(own) == 0 {
		return err
	}
	return f.c.updateGroups(f.v, f.a, func(g *groupTx) error {
		recs, err := g.tx.List(nsGroups)
		if err != nil {
			return err
		}
		for _, rec := range recs {
			if err := g.welcomeOwn(rec.Key, rec.Value, own); err != nil {
				return err
			}
		}
		return nil
	})
}

func (g *groupTx) welcomeOwn(key string, val []byte, own []target) error {
	var rec groupRec
	if err := json.Unmarshal(val, &rec); err != nil {
		return fmt.Errorf("client: group record: %w", err)
	}
	var missing []string
	for _, t := range own {
		if !slices.Contains(rec.Welcomed, t.addr.String()) {
			missing = append(missing, t.addr.String())
		}
	}
	if len(missing) == 0 {
		return nil
	}
	id, err := group.ParseID(key)
	if err != nil {
		return err
	}
	r, err := g.replica(id)
	if err != nil || !r.Head().IsMember(g.a.self().User) {
		return err
	}
	w, err := r.Log().Welcome()
	if err != nil {
		return err
	}
	mid, now := addr.NewMessageID(), g.c.clock()
	it := groupOutItem{V: recordVersion, Group: key, ID: mid.String(), Sent: now.UnixMilli(),
		Welcome: mustBytes(w.MarshalBinary()), To: missing}
	if err := putJSON(g.tx, nsGroupOut, outboxKey(now, mid), &it); err != nil {
		return err
	}
	return g.markWelcomed(key, missing, true) // unmarked if it cannot be sealed
}
