package client

import (
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"parley.dev/client/internal/relay"
	"parley.dev/internal/vault"
	"parley.dev/internal/wire"
)

// nsBlobDeletes lists the relay blobs that no message will point to: those
// of uploads the sweep deleted before they finished (key: the blob ID in
// hex, no value). The sweep queues them in its transaction, and the next
// upload round (Sync, Listen) asks the relay to delete them, so that a
// message deleted while offline leaves none of its ciphertext at the relay
// longer than it must. The relay's expiry of unfinished blobs is the
// fallback for a record this device never gets to delete.
const nsBlobDeletes = "blobdel"

// queueUploadBlobDelete queues for deletion the blob of upload id, if the
// upload has one. An upload record that does not decode has none to give.
func queueUploadBlobDelete(tx *vault.Tx, id string) error {
	b, err := tx.Get(nsUploads, id)
	if notFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	var u struct {
		Up *wire.BlobUpload `json:"up"`
	}
	if json.Unmarshal(b, &u) != nil || u.Up == nil {
		return nil
	}
	return queueBlobDelete(tx, u.Up.ID)
}

// queueBlobDelete queues blob id for deletion at the relay.
func queueBlobDelete(tx *vault.Tx, id [wire.BlobIDLen]byte) error {
	return tx.Put(nsBlobDeletes, hex.EncodeToString(id[:]), nil)
}

// maxBlobDeletesPerRound bounds the queued deletions a run of the queue
// asks for (deleteQueuedBlobs, at the start of each upload round), so
// that a long queue (many uploads swept while offline) cannot use up the
// device's request rate before the round's own uploads run; the rest
// wait for the next round.
// Besides, an upload that ends unsent asks for its own blob's deletion
// (dropBlob), and each blob creation the quota refuses runs the queue once
// more, up to 8 more deletions (createFreeingQuota): the queued blobs may
// be what fills it.
const maxBlobDeletesPerRound = 8

// dropBlob asks the relay at once to delete blob id, queued in blobdel,
// of an upload that ended without being sent, and drops its record; if
// that fails, the record waits for the next round.
func (c *Client) dropBlob(ctx context.Context, id [wire.BlobIDLen]byte) {
	v, a, rc, err := c.blobDeleter()
	if err == nil {
		err = deleteQueuedBlob(ctx, v, rc, a, hex.EncodeToString(id[:]))
	}
	if err != nil {
		c.log.Debug("an unsent upload's blob waits for the next round", "err", err)
	}
}

// deleteQueuedBlobs asks the relay to delete queued blobs, at most
// maxBlobDeletesPerRound, and drops the records of those it deleted or no
// longer has; it returns how many it dropped and whether any stay queued.
// A deletion the relay refuses (errDeleteRefused) stays queued, and the
// run goes on with the next, so that one blob the relay cannot delete
// does not hold up the rest; the first such refusal is the error if
// nothing else stops the run. It stops at the first other failure (the
// relay unreachable or limiting this device's rate, the vault): the rest
// wait for the next round.
func (c *Client) deleteQueuedBlobs(ctx context.Context) (n int, more bool, err error) {
	v, a, rc, err := c.blobDeleter()
	if err != nil {
		return 0, true, err // whether any are queued is unknown: assume some
	}
	recs, err := v.List(nsBlobDeletes)
	if err != nil {
		return 0, true, vaultErr(err)
	}
	var refused error
	for _, r := range recs[:min(len(recs), maxBlobDeletesPerRound)] {
		switch err := deleteQueuedBlob(ctx, v, rc, a, r.Key); {
		case err == nil:
			n++
		case errors.Is(err, errDeleteRefused):
			refused = cmp.Or(refused, err)
		default:
			return n, true, err
		}
	}
	return n, len(recs) > n, refused
}

// blobDeleter returns what deleting queued blobs takes.
func (c *Client) blobDeleter() (*vault.Vault, *account, *relay.Client, error) {
	v, err := c.vault()
	if err != nil {
		return nil, nil, nil, err
	}
	a, rc, err := c.relayAs()
	return v, a, rc, err
}

// errDeleteRefused: the relay answered a queued blob's deletion with an
// error other than no-blob or one that passes (its storage failed on
// that blob): the blob stays queued, and waiting is not known to cure it.
var errDeleteRefused = errors.New("client: the relay refused to delete a blob")

// passingCode reports whether the relay refused with a code that passes
// by itself: a rate limit, an overloaded or draining relay.
func passingCode(c wire.Code) bool {
	return c == wire.CodeRateLimited || c == wire.CodeUnavailable || c == wire.CodeConnLimit
}

// deleteQueuedBlob has the relay delete the blob queued under key (its ID
// in hex) and drops the record once the relay no longer has it. A key
// that is not a blob ID is dropped.
func deleteQueuedBlob(ctx context.Context, v *vault.Vault, rc *relay.Client, a *account, key string) error {
	var id [wire.BlobIDLen]byte
	if n, err := hex.Decode(id[:], []byte(key)); err == nil && n == len(id) {
		err = rc.DeleteBlob(ctx, a.auth(), id)
		var we *wire.Error
		switch {
		case err == nil, errors.Is(err, wire.CodeNoBlob):
		case errors.As(err, &we) && !passingCode(we.Code):
			return fmt.Errorf("%w: %w", errDeleteRefused, relayErr(err))
		default:
			return relayErr(err)
		}
	}
	return vaultErr(v.Update(func(tx *vault.Tx) error { return tx.Delete(nsBlobDeletes, key) }))
}
