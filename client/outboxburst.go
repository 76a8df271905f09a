package client

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"parley.dev/internal/vault"
)

// Outbox records. Most hold one item. What the sealed path (Send,
// SendMany) seals is stored as records of many items each, in order
// (outboxItem.Burst): a burst of a thousand messages is then a few dozen
// puts when it is sealed and as many deletes when the relay has answered,
// not a thousand of each. Every reader of the outbox goes
// through readOutbox, which expands such records into their items, and
// every change to items goes through an outboxEdit, which rewrites each
// burst record once per transaction.

// maxBurstRecord bounds the bytes of one burst record, so a burst spans
// several: a few dozen messages each. Measured: 64 KiB records beat both
// one record per message and 4 MiB ones, whose copies and overflow chains
// cost more than the records they save (BENCHMARKS.md, stop 21).
const maxBurstRecord = 64 << 10

// outboxBurst is one burst record as read: its key and the items it still
// holds.
type outboxBurst struct {
	key   string
	items []*outboxItem
}

// readOutbox parses outbox records into their items, in record order.
func readOutbox(recs []vault.Record) ([]*outboxItem, error) {
	var items []*outboxItem
	for _, r := range recs {
		it := &outboxItem{key: r.Key}
		if err := json.Unmarshal(r.Value, it); err != nil {
			return nil, fmt.Errorf("client: outbox record: %w", err)
		}
		if len(it.Burst) == 0 {
			for _, e := range it.Ready { // only a burst record's envelopes share
				if e.Shared != 0 {
					return nil, errors.New("client: outbox record: an envelope shares bytes outside a burst")
				}
			}
			items = append(items, it)
			continue
		}
		if err := expandBurst(it.Burst); err != nil {
			return nil, err
		}
		b := &outboxBurst{key: r.Key, items: it.Burst}
		for _, m := range it.Burst {
			m.key, m.burst = r.Key, b
		}
		items = append(items, it.Burst...)
	}
	return items, nil
}

// listOutbox reads every outbox item within tx.
func listOutbox(tx *vault.Tx) ([]*outboxItem, error) {
	recs, err := tx.List(nsOutbox)
	if err != nil {
		return nil, err
	}
	return readOutbox(recs)
}

// putBursts stores sealed items as burst records, in order, each at its
// first item's key and within maxBurstRecord bytes as stored.
func putBursts(tx *vault.Tx, items []*outboxItem) error {
	for len(items) > 0 {
		var c compactor
		var stored []*outboxItem
		size := 0
		for len(stored) < len(items) {
			s := c.item(items[len(stored)])
			n := itemSize(s)
			if len(stored) > 0 && size+n > maxBurstRecord {
				break
			}
			stored = append(stored, s)
			size += n
		}
		n := len(stored)
		b := &outboxBurst{key: items[0].key, items: items[:n:n]}
		for _, it := range b.items {
			it.key, it.burst = b.key, b
		}
		if err := putJSON(tx, nsOutbox, b.key, &outboxItem{V: recordVersion, Burst: stored}); err != nil {
			return err
		}
		items = items[n:]
	}
	return nil
}

// Until a session is answered, every message on it carries the same PQXDH
// header: about 1.7 KiB of ML-KEM ciphertext and keys, against about
// 150 bytes of ratchet message for a short text. Stored whole in each
// envelope, the headers were most of a first burst's bytes, which the
// vault encrypts and writes three times (log, database, and again when
// the relay's answers delete them). So in a burst record an envelope
// stores only what differs from the record's first envelope to the same
// device (readyEnvelope.Shared); the items in memory keep whole payloads.

// minShared is the fewest leading bytes worth sharing: an envelope that
// has fewer in common with its device's first is stored whole.
const minShared = 64

// compactor compacts the envelopes of one burst record, in order.
type compactor struct {
	first map[string][]byte // the record's first payload to each device
}

// item returns a copy of it to store, its envelopes compacted.
func (c *compactor) item(it *outboxItem) *outboxItem {
	cp := *it
	cp.Ready = make([]readyEnvelope, len(it.Ready))
	for i, e := range it.Ready {
		if ref, ok := c.first[e.To]; !ok {
			if c.first == nil {
				c.first = make(map[string][]byte)
			}
			c.first[e.To] = e.Payload
		} else if n := commonPrefix(ref, e.Payload); n >= minShared {
			e.Payload, e.Shared = e.Payload[n:], n
		}
		cp.Ready[i] = e
	}
	return &cp
}

// burstRecord is the stored form of a burst record holding items.
func burstRecord(items []*outboxItem) *outboxItem {
	var c compactor
	stored := make([]*outboxItem, len(items))
	for i, it := range items {
		stored[i] = c.item(it)
	}
	return &outboxItem{V: recordVersion, Burst: stored}
}

// expandBurst restores the whole payloads of a stored burst record's
// items, in place.
func expandBurst(items []*outboxItem) error {
	first := make(map[string][]byte)
	for _, it := range items {
		for i := range it.Ready {
			e := &it.Ready[i]
			ref, ok := first[e.To]
			if e.Shared == 0 {
				if !ok {
					first[e.To] = e.Payload
				}
				continue
			}
			if !ok || e.Shared < 0 || e.Shared > len(ref) {
				return errors.New("client: outbox record: an envelope shares bytes it has no source for")
			}
			e.Payload = append(ref[:e.Shared:e.Shared], e.Payload...)
			e.Shared = 0
		}
	}
	return nil
}

// commonPrefix returns how many leading bytes a and b have in common.
func commonPrefix(a, b []byte) int {
	n := min(len(a), len(b))
	i := 0
	for i+8 <= n && binary.LittleEndian.Uint64(a[i:]) == binary.LittleEndian.Uint64(b[i:]) {
		i += 8
	}
	for i < n && a[i] == b[i] {
		i++
	}
	return i
}

// itemSize bounds an item's bytes in JSON (payloads in base64).
func itemSize(it *outboxItem) int {
	n := 256 + 2*len(it.Text)
	for _, e := range it.Ready {
		n += 64 + len(e.To) + (len(e.Payload)+2)/3*4
	}
	return n
}

// outboxEdit collects a transaction's changes to outbox items: a single
// item is written or deleted at once; a burst record is rewritten (or
// deleted, once empty) by done.
type outboxEdit struct {
	dirty   []*outboxBurst
	retired map[*outboxItem]bool
	// stale: a sweep may have removed some of the items since they were
	// read (flusher.stale), so only what the outbox still holds is
	// written back (TestSweptMessagesStayUnsent).
	stale bool
}

// keep saves it as changed (its envelopes left, its count of stored
// copies).
func (e *outboxEdit) keep(tx *vault.Tx, it *outboxItem) error {
	if it.burst == nil && e.stale {
		_, err := replaceJSON(tx, nsOutbox, it.key, it) // if swept, it stays gone
		return err
	}
	if it.burst == nil {
		return putJSON(tx, nsOutbox, it.key, it)
	}
	e.mark(it.burst)
	return nil
}

// retire removes it from the outbox.
func (e *outboxEdit) retire(tx *vault.Tx, it *outboxItem) error {
	if it.burst == nil {
		return tx.Delete(nsOutbox, it.key)
	}
	if e.retired == nil {
		e.retired = make(map[*outboxItem]bool)
	}
	e.retired[it] = true
	e.mark(it.burst)
	return nil
}

func (e *outboxEdit) mark(b *outboxBurst) {
	for _, d := range e.dirty {
		if d == b {
			return
		}
	}
	e.dirty = append(e.dirty, b)
}

// done writes the burst records changed, within tx.
func (e *outboxEdit) done(tx *vault.Tx) error {
	for _, b := range e.dirty {
		left := make([]*outboxItem, 0, len(b.items))
		for _, it := range b.items {
			if !e.retired[it] {
				left = append(left, it)
			}
		}
		if e.stale && len(left) > 0 {
			held, err := burstHolds(tx, b.key)
			if err != nil {
				return err
			}
			left = slices.DeleteFunc(left, func(it *outboxItem) bool { return !held[it.ID] })
		}
		b.items = left
		var err error
		if len(left) == 0 {
			err = tx.Delete(nsOutbox, b.key)
		} else {
			err = putJSON(tx, nsOutbox, b.key, burstRecord(left))
		}
		if err != nil {
			return err
		}
	}
	e.dirty, e.retired = nil, nil
	return nil
}

// burstHolds returns the messages the burst record key holds now (none
// if it is gone).
func burstHolds(tx *vault.Tx, key string) (map[string]bool, error) {
	var rec outboxItem
	err := getJSON(tx, nsOutbox, key, &rec)
	if notFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	held := make(map[string]bool, len(rec.Burst))
	for _, it := range rec.Burst {
		held[it.ID] = true
	}
	return held, nil
}
