package client

import (
	"context"

	"parley.dev/client/internal/content"
	"parley.dev/internal/addr"
	"parley.dev/internal/group"
	"parley.dev/internal/keys"
	"parley.dev/internal/vault"
	"parley.dev/internal/wire"
)

// Test-only access to groups for package client_test.

// IdentityOf returns c's identity secret, for tests that forge.
func IdentityOf(c *Client) *keys.Identity {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.acct.identity
}

// GroupHead returns c's current state of a group.
func GroupHead(c *Client, id GroupID) (*group.State, error) {
	v, a, err := c.registered()
	if err != nil {
		return nil, err
	}
	var st *group.State
	err = c.updateGroups(v, a, func(g *groupTx) error {
		r, err := g.replica(group.ID(id))
		if err == nil {
			st = r.Head()
		}
		return err
	})
	return st, err
}

// SendGroupChange seals body as a group change control message, from c,
// to every device of user, and submits it: a peer that sends what it
// likes.
func SendGroupChange(ctx context.Context, c *Client, user string, body []byte) error {
	v, a, err := c.registered()
	if err != nil {
		return err
	}
	rc, err := c.relayClient()
	if err != nil {
		return err
	}
	f := &flusher{c: c, v: v, a: a, rc: rc}
	list, err := rc.Devices(ctx, a.auth(), addr.UserID(user))
	if err != nil {
		return err
	}
	id, err := keys.ParseIdentityPublic(list.Identity)
	if err != nil {
		return err
	}
	ts := c.certified(list, id, false)
	fresh, _, _, err := f.startSessions(ctx, ts)
	if err != nil {
		return err
	}
	var subs []*wire.Submit
	err = v.Update(func(tx *vault.Tx) error {
		lists, err := loadLists(tx, ts, fresh)
		if err != nil {
			return err
		}
		for _, t := range ts {
			m := &content.Message{Kind: content.KindGroupChange, ID: addr.NewMessageID(), Sent: c.clock(), Body: body}
			env, err := sealControl(lists[t.addr], t.identity, t.addr, m)
			if err != nil {
				return err
			}
			mid, _ := addr.ParseMessageID(env.ID)
			subs = append(subs, &wire.Submit{To: t.addr, ID: mid, Payload: env.Payload})
		}
		for a, l := range lists {
			if err := l.save(tx, a); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	_, err = SubmitRaw(ctx, c, subs)
	return err
}

// SenderKeyID returns the ID of c's current sender chain in a group (0:
// none yet).
func SenderKeyID(c *Client, id GroupID) uint32 {
	v, a, err := c.registered()
	if err != nil {
		return 0
	}
	var out uint32
	c.updateGroups(v, a, func(g *groupTx) error {
		r, err := g.replica(group.ID(id))
		if err != nil {
			return err
		}
		parts, err := r.All()
		if err != nil {
			return err
		}
		if own := parts["own"]; own != nil {
			sc, err := group.UnmarshalSenderChain(own)
			if err == nil {
				out = sc.ID()
			}
		}
		return nil
	})
	return out
}

// HandOut returns the sender-key distribution c would give device to in a
// group, as the body of a group key message.
func HandOut(c *Client, id GroupID, to Address) ([]byte, error) {
	v, a, err := c.registered()
	if err != nil {
		return nil, err
	}
	var body []byte
	err = c.updateGroups(v, a, func(g *groupTx) error {
		r, err := g.replica(group.ID(id))
		if err != nil {
			return err
		}
		dev := addr.Address{User: addr.UserID(to.User), Device: addr.DeviceID(to.Device)}
		hs, _, err := r.PrepareSend([]addr.Address{dev}, nil)
		if err != nil || len(hs) == 0 {
			return err
		}
		body, err = hs[0].Distribution.MarshalBinary()
		return err
	})
	return body, err
}

// DeliverKey hands c a group key message from device from, as if a
// session under sessionIdentity (a keys encoding) had carried it, and
// returns why it was refused, if it was.
func DeliverKey(c *Client, from Address, sessionIdentity, body []byte) error {
	v, a, err := c.registered()
	if err != nil {
		return err
	}
	var r received
	err = c.updateGroups(v, a, func(g *groupTx) error {
		o := orphanRec{Kind: "key", From: from.String(), Identity: sessionIdentity, Body: body}
		d, err := group.ParseDistribution(body)
		if err != nil {
			return err
		}
		o.Group = d.Group.String()
		return g.deliver(o, &r)
	})
	return err
}

// IdentityBytes returns the encoding of c's public identity.
func IdentityBytes(c *Client) []byte { return IdentityOf(c).Public().Bytes() }
