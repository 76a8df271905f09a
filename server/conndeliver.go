package server

import (
	"errors"

	"parley.dev/internal/addr"
	"parley.dev/internal/fanout"
	"parley.dev/internal/store"
	"parley.dev/internal/wire"
)

// submit stores a batch of envelopes with one store call, answers each,
// and hands each newly stored one to its device's connections on this
// node before waking other nodes.
func (c *conn) submit(subs []*wire.Submit) {
	codes := make([]wire.Code, len(subs))
	envs := make([]store.Envelope, 0, len(subs))
	idx := make([]int, 0, len(subs))
	now := c.r.now() // set here, so that a direct delivery shows the stored time
	for i, m := range subs {
		switch {
		case len(m.Payload) > c.r.maxEnvelope:
			codes[i] = wire.CodeTooLarge
		case len(m.Payload) == 0:
			codes[i] = wire.CodeMalformed
		default:
			envs = append(envs, store.Envelope{To: m.To, From: c.addr, ID: m.ID, Kind: store.KindMessage, Created: now,
				Expires: c.r.expires(now, m.TTL), Payload: m.Payload})
			idx = append(idx, i)
		}
	}
	dups := make([]bool, len(subs))
	if len(envs) > 0 {
		c.store(envs, idx, codes, dups)
	}
	for i, m := range subs {
		if codes[i] != wire.CodeOK {
			c.r.metrics.reject(codes[i])
		}
		c.send(&wire.SubmitResult{To: m.To, ID: m.ID, Code: codes[i], Duplicate: dups[i]})
	}
}

// store submits envs (the subs at idx) and sets their codes. The relay's
// context, not the connection's: an envelope read before the client
// vanished is still stored (the client may resubmit it).
func (c *conn) store(envs []store.Envelope, idx []int, codes []wire.Code, dups []bool) {
	res, err := c.r.store.Submit(c.r.ctx, envs)
	if err != nil {
		code := c.r.internal("submit", err).Code
		if errors.Is(err, store.ErrInvalid) {
			code = wire.CodeMalformed
		}
		for _, i := range idx {
			codes[i] = code
		}
		return
	}
	for j, r := range res {
		i := idx[j]
		switch {
		case errors.Is(r.Err, store.ErrNotFound):
			codes[i] = wire.CodeUnknownDevice
		case errors.Is(r.Err, store.ErrMailboxFull):
			codes[i] = wire.CodeMailboxFull
		case r.Err != nil:
			codes[i] = c.r.internal("submit", r.Err).Code
		case r.Duplicate:
			c.r.metrics.duplicates.Add(1)
			dups[i] = true
		default:
			c.r.metrics.queued.Add(1)
			e := &envs[j]
			e.Seq = r.Seq
			c.r.conns.offer(e)
			c.r.publishMail(e.To, e.Seq)
		}
	}
}

// ack deletes the acknowledged envelopes of a batch with one store call,
// frees their window slots and confirms each Ack once the deletion is
// committed.
func (c *conn) ack(seqs []int64, acks []*wire.Ack) {
	n, err := c.r.store.Ack(c.r.ctx, c.addr, seqs)
	if err != nil {
		c.ws.Close(1011, c.r.internal("ack", err).Detail)
		return
	}
	c.r.metrics.acked.Add(int64(n))
	resume := false
	c.mu.Lock()
	for _, q := range seqs {
		if _, ok := c.unacked[q]; ok {
			delete(c.unacked, q)
			resume = c.windowFull
		}
	}
	if len(c.unacked) == 0 {
		c.unacked = nil // an idle connection keeps no map
	}
	c.mu.Unlock()
	if resume {
		c.kick()
	}
	for _, a := range acks {
		c.send(&wire.AckResult{Seqs: a.Seqs})
	}
}

// publishMail wakes the device's connections on other nodes (and, in
// one process, those this node could not deliver to at once). seq lets a
// connection that already sent it skip reading its mailbox.
func (r *relay) publishMail(a addr.Address, seq int64) {
	if err := r.fan.Publish(r.ctx, fanout.Event{Device: a, Kind: fanout.Mail, Seq: seq}); err != nil && !errors.Is(err, fanout.ErrClosed) {
		r.log.Warn("fanout publish", "device", a.String(), "err", err)
	}
	r.pushMail(a)
}

// maxQueued bounds the deliveries queued for a connection and not yet
// written: beyond it, delivery waits for the client to read, so that a
// client that stops reading holds at most this much relay memory (plus one
// envelope) before the write timeout cuts it.
const maxQueued = 1 << 20

// offer delivers a just-stored envelope at once if this connection has
// sent everything before it and has window room; otherwise the mailbox
// read (the reconciling path) picks it up.
func (c *conn) offer(e *store.Envelope) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || e.Seq <= c.lastSent {
		return
	}
	if !c.synced || c.delivering || e.Seq != c.lastSent+1 || len(c.unacked) >= c.r.window ||
		c.ws.Buffered() >= maxQueued {
		c.kickLocked()
		return
	}
	c.sendLocked(e)
}

// kick makes sure a delivery loop runs: it starts one, or tells the
// running one to look again.
func (c *conn) kick() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.kickLocked()
}

func (c *conn) kickLocked() {
	if c.closed {
		return
	}
	if c.delivering {
		c.again = true
		return
	}
	c.delivering = true
	go c.deliverLoop()
}

func (c *conn) deliverLoop() {
	for {
		err := c.deliver()
		c.mu.Lock()
		if err != nil || !c.again || c.closed {
			c.delivering, c.again = false, false
			c.mu.Unlock()
			if err != nil && !errors.Is(err, store.ErrClosed) {
				c.r.log.Debug("delivery stopped", "device", c.addr.String(), "err", err)
				c.ws.CloseNow()
			}
			return
		}
		c.again = false
		c.mu.Unlock()
	}
}

// deliver sends queued envelopes after the last one sent, as long as the
// window has room, and Synced once the backlog is drained.
func (c *conn) deliver() error {
	for {
		c.mu.Lock()
		limit := min(c.r.window-len(c.unacked), store.MaxBatch)
		after := c.lastSent
		c.windowFull = limit <= 0 // under the lock an ack checks it with
		c.mu.Unlock()
		if limit <= 0 {
			return nil // an ack will kick
		}
		envs, err := c.r.store.Pending(c.r.ctx, c.addr, after, limit)
		if err != nil {
			return err
		}
		c.mu.Lock()
		for i := range envs {
			if c.ws.Buffered() >= maxQueued { // a slow reader: wait for it
				c.mu.Unlock()
				if !c.ws.WaitBuffered(maxQueued) {
					return nil // closed
				}
				c.mu.Lock()
			}
			if envs[i].Seq > c.lastSent { // an offer may have sent it meanwhile
				c.sendLocked(&envs[i])
			}
		}
		drained := len(envs) < limit
		if drained && !c.synced {
			c.synced = true
			c.sendFrameLocked(&wire.Synced{})
		}
		c.mu.Unlock()
		if drained {
			return nil
		}
	}
}

// sendLocked queues one Deliver; c.mu is held, so deliveries are queued
// in mailbox order.
func (c *conn) sendLocked(e *store.Envelope) {
	if c.unacked == nil {
		c.unacked = make(map[int64]struct{})
	}
	c.unacked[e.Seq] = struct{}{}
	c.lastSent = e.Seq
	d := wire.Deliver{Seq: uint64(e.Seq), From: e.From, ID: e.ID, Kind: wire.Kind(e.Kind), Queued: e.Created, Payload: e.Payload}
	if c.sendFrameLocked(&d) == nil {
		c.r.metrics.delivered.Add(1)
	}
}

func (c *conn) sendFrameLocked(f wire.Frame) error { return c.send(f) }
