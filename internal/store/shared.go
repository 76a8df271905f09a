package store

import (
	"crypto/sha256"
	"fmt"
)

// Shared payloads (migration 5). A group message's copies were envelopes
// rows holding the payload's SHA-256 (shared column 1), with the payload
// once in shared_payloads, reference-counted. Since migration 10 group
// messages are group_messages and group_entries rows instead (group.go),
// and migration 10 moved every shared row there; this code still reads
// and releases shared rows correctly, but none is stored any more
// (sharedRows sees no KindGroup envelope: insertRows routes them to
// insertGroups). Reads join the two tables (payloadOf). Every statement
// that deletes envelope rows returns each row's hash (sharedRef), and the
// transaction that deleted them releases those references in the same
// commit. A later migration can drop the table and the column.

// sharedPayload is a payload a batch stores shared and how many of the
// batch's rows refer to it.
type sharedPayload struct {
	payload []byte
	refs    int64
}

// sharedRows prepares the rows of envs for insertion: each shared one
// (KindGroup) gets its payload's hash in place of the payload. It returns
// the payloads by hash, counted.
func sharedRows(envs []*Envelope) (rows [][]any, shared map[[sha256.Size]byte]*sharedPayload) {
	rows = make([][]any, len(envs))
	arena := newRowArena(len(envs), 11)
	hashes := map[*byte][sha256.Size]byte{} // one hash per payload slice
	for i, e := range envs {
		payload, flag := e.Payload, int64(0)
		if e.Kind == KindGroup {
			h, ok := hashes[&e.Payload[0]]
			if !ok {
				h = sha256.Sum256(e.Payload)
				hashes[&e.Payload[0]] = h
			}
			if shared == nil {
				shared = map[[sha256.Size]byte]*sharedPayload{}
			}
			sp := shared[h]
			if sp == nil {
				sp = &sharedPayload{payload: e.Payload}
				shared[h] = sp
			}
			sp.refs++
			payload, flag = h[:], 1
		}
		rows[i] = arena.row(string(e.To.User), int64(e.To.Device), e.Seq,
			string(e.From.User), int64(e.From.Device), e.ID[:], int64(e.Kind),
			micros(e.Created), micros(e.Expires), payload, flag)
	}
	return rows, shared
}

// refShared stores the payloads of inserted shared rows, or adds their
// references to payloads stored already.
func (t *txn) refShared(shared map[[sha256.Size]byte]*sharedPayload) error {
	for h, sp := range shared {
		if _, err := t.exec(qRefShared, h[:], sp.payload, sp.refs); err != nil {
			return fmt.Errorf("store: shared payload: %w", err)
		}
	}
	return nil
}

// releases counts the shared-payload references of deleted rows.
type releases map[string]int64

// add counts a deleted row's sharedRef column (nil for an unshared row).
func (r releases) add(hash []byte) {
	if hash != nil {
		r[string(hash)]++
	}
}

// releaseShared drops the references r counts and deletes the payloads
// left with none.
func (t *txn) releaseShared(r releases) error {
	for h, n := range r {
		var left int64
		found, err := t.queryRow(qReleaseShared, []any{[]byte(h), n}, &left)
		if err != nil {
			return fmt.Errorf("store: release shared payload: %w", err)
		}
		if found && left <= 0 {
			if _, err := t.exec(qDropShared, []byte(h)); err != nil {
				return fmt.Errorf("store: drop shared payload: %w", err)
			}
		}
	}
	return nil
}

// deleteReleasing runs a DELETE of envelopes that returns only sharedRef,
// and releases the shared payloads of the rows it deleted.
func (t *txn) deleteReleasing(q string, args ...any) (int64, error) {
	rows, err := t.query(q, args...)
	if err != nil {
		return 0, err
	}
	var n int64
	r := releases{}
	for rows.Next() {
		var hash []byte
		if err := rows.Scan(&hash); err != nil {
			rows.Close()
			return 0, err
		}
		r.add(hash)
		n++
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return 0, err
	}
	rows.Close()
	return n, t.releaseShared(r)
}
