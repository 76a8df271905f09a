package client

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"parley.dev/internal/addr"
	"parley.dev/internal/group"
	"parley.dev/internal/vault"
)

// The group records. Every byte is sealed by the vault.
//
//	namespace     key                  value
//	groups        group ID (hex)       groupRec (JSON): own devices welcomed
//	g/ID          replica part name    a part of the group's group.Replica
//	gh/HASH       message ID (hex), or "~EPOCH-DIGEST" for a change
//	                                   groupHistoryRec (JSON)
//	gout          time-ID              groupOutItem (JSON): a text or change
//	                                   waiting for the relay
//	gorphan       arrival (16 hex)     orphanRec (JSON): a control or
//	                                   message for a group not held yet
const (
	nsGroups        = "groups"
	nsGroupPrefix   = "g/"
	nsGroupHistory  = "gh/"
	nsGroupOut      = "gout"
	nsGroupOrphans  = "gorphan"
	changeKeyPrefix = "~"
)

// maxOrphans bounds what waits for a group not held yet; the oldest is
// dropped.
const maxOrphans = 256

func groupNS(id group.ID) string { return nsGroupPrefix + id.String() }

// groupHistoryNS returns a group's history namespace (hashed, as a
// conversation's is).
func groupHistoryNS(id group.ID) string {
	sum := sha256.Sum256(append([]byte("parley.dev/client/v1 group history\x00"), id[:]...))
	return nsGroupHistory + base64.RawURLEncoding.EncodeToString(sum[:18])
}

// groupRec is what this device keeps about a group beside its replica.
type groupRec struct {
	V int `json:"v"`
	// Welcomed lists this user's other devices that were sent the group's
	// state ("user/device").
	Welcomed []string `json:"welcomed,omitempty"`
}

// groupHistoryRec is one entry of a group's history: a message, or a
// change (Change set, Text empty).
type groupHistoryRec struct {
	V        int          `json:"v"`
	ID       string       `json:"id"`
	From     string       `json:"from"`
	Outgoing bool         `json:"out,omitempty"`
	Text     string       `json:"text,omitempty"`
	Sent     int64        `json:"sent"`
	Received int64        `json:"recv"`
	Status   Status       `json:"status"`
	Change   *GroupChange `json:"change,omitempty"`
	Ord      int64        `json:"ord,omitempty"` // as historyRec.Ord
}

// groupCache keeps replicas in memory between transactions: parsing a
// large group's log checks an identity signature per member. A
// transaction that fails drops what it touched.
type groupCache struct {
	mu sync.Mutex
	m  map[group.ID]*group.Replica
}

func (gc *groupCache) get(id group.ID) *group.Replica {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	return gc.m[id]
}

func (gc *groupCache) set(rs map[group.ID]*group.Replica, keep bool) {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	if gc.m == nil {
		gc.m = map[group.ID]*group.Replica{}
	}
	for id, r := range rs {
		if keep {
			gc.m[id] = r
		} else {
			delete(gc.m, id)
		}
	}
}

// groupTx is the group side of one vault transaction: the replicas it
// loaded or made, saved (their dirty parts) before it commits.
type groupTx struct {
	c       *Client
	tx      *vault.Tx
	a       *account
	touched map[group.ID]*group.Replica
	events  []Event
}

// updateGroups runs fn in a vault transaction with a groupTx, saves the
// replicas fn touched, and emits the events it recorded once committed.
func (c *Client) updateGroups(v *vault.Vault, a *account, fn func(*groupTx) error) error {
	var g *groupTx
	err := v.Update(func(tx *vault.Tx) error {
		g = c.newGroupTx(tx, a)
		if err := fn(g); err != nil {
			return err
		}
		return g.save()
	})
	c.groups.set(g.touched, err == nil)
	if err != nil {
		return vaultErr(err)
	}
	for _, e := range g.events {
		c.emitEvent(e)
	}
	return nil
}

func (c *Client) newGroupTx(tx *vault.Tx, a *account) *groupTx {
	return &groupTx{c: c, tx: tx, a: a, touched: map[group.ID]*group.Replica{}}
}

// updateVault runs fn in a vault transaction.
func (c *Client) updateVault(fn func(*vault.Tx) error) error {
	v, err := c.vault()
	if err != nil {
		return err
	}
	return vaultErr(v.Update(fn))
}

// replica returns the group's replica, or ErrUnknownGroup.
func (g *groupTx) replica(id group.ID) (*group.Replica, error) {
	r, err := g.lookup(id)
	if err == nil && r == nil {
		err = fmt.Errorf("%w: %s", ErrUnknownGroup, id)
	}
	return r, err
}

// lookup returns the group's replica, or nil if none is held.
func (g *groupTx) lookup(id group.ID) (*group.Replica, error) {
	if r := g.touched[id]; r != nil {
		return r, nil
	}
	r := g.c.groups.get(id)
	if r == nil {
		recs, err := g.tx.List(groupNS(id))
		if err != nil || len(recs) == 0 {
			return nil, err
		}
		parts := make(map[string][]byte, len(recs))
		for _, rec := range recs {
			parts[rec.Key] = rec.Value
		}
		if r, err = group.LoadReplica(g.a.self(), parts); err != nil {
			return nil, fmt.Errorf("client: stored group %s: %w", id, err)
		}
	}
	g.touched[id] = r
	return r, nil
}

// put records a new replica.
func (g *groupTx) put(r *group.Replica) { g.touched[r.ID()] = r }

// save writes the dirty parts of every replica touched.
func (g *groupTx) save() error {
	for id, r := range g.touched {
		parts, err := r.Dirty()
		if err != nil {
			return err
		}
		for k, v := range parts {
			if v == nil {
				err = g.tx.Delete(groupNS(id), k)
			} else {
				err = g.tx.Put(groupNS(id), k, v)
			}
			if err != nil && !notFound(err) {
				return err
			}
		}
	}
	return nil
}

// history records a change in the group's history.
func (g *groupTx) history(r *group.Replica, ch *group.Change) error {
	gc := publicChange(ch, r.Head().Name())
	key := fmt.Sprintf("%s%016x-%s", changeKeyPrefix, ch.Epoch(), ch.Digest().String()[:16])
	now := g.c.clock().UnixMilli()
	h := groupHistoryRec{V: recordVersion, ID: key, From: string(ch.Signer()), Outgoing: ch.Signer() == g.a.self().User,
		Sent: ch.Time().UnixMilli(), Received: now, Status: StatusReceived, Change: gc, Ord: g.c.order()}
	return putJSON(g.tx, groupHistoryNS(r.ID()), key, &h)
}

func (h *groupHistoryRec) message(id group.ID, name string) Message {
	m := Message{Contact: h.From, Outgoing: h.Outgoing, Text: h.Text, Sent: msTime(h.Sent),
		Received: msTime(h.Received), Status: h.Status, Group: GroupID(id), GroupName: name}
	if mid, err := addr.ParseMessageID(h.ID); err == nil {
		m.ID = MessageID(mid)
	}
	return m
}

// GroupHistory returns a group's messages and changes, oldest first (by
// the time this device stored each). A device linked to this user after
// it joined has the group's history since then only.
func (c *Client) GroupHistory(ctx context.Context, id GroupID) ([]GroupEntry, error) {
	g, err := c.Group(ctx, id)
	if err != nil {
		return nil, err
	}
	v, err := c.vault()
	if err != nil {
		return nil, err
	}
	if err := c.sweep(ctx); err != nil { // the retention rule first
		return nil, err
	}
	recs, err := v.List(groupHistoryNS(group.ID(id)))
	if err != nil {
		return nil, vaultErr(err)
	}
	out := make([]GroupEntry, 0, len(recs))
	for _, r := range recs {
		var h groupHistoryRec
		if err := json.Unmarshal(r.Value, &h); err != nil {
			return nil, fmt.Errorf("client: group history record: %w", err)
		}
		e := GroupEntry{Change: h.Change}
		if h.Change == nil {
			m := h.message(group.ID(id), g.Name)
			e.Message = &m
		}
		e.at, e.ord, e.sent = h.Received, h.Ord, h.Sent
		out = append(out, e)
	}
	// By arrival; within a millisecond, in the order stored.
	slices.SortStableFunc(out, func(a, b GroupEntry) int {
		return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.ord, b.ord), cmp.Compare(a.sent, b.sent))
	})
	return out, nil
}

// GroupEntry is one item of a group's history: a message or a change.
type GroupEntry struct {
	Message *Message
	Change  *GroupChange

	at, ord, sent int64
}
