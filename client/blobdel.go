package client

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"

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

// maxBlobDeletesPerRound bounds the queued deletions one upload round
// asks for (deleteQueuedBlobs, at its start), so that a long queue (many
// uploads swept while offline) cannot use up the device's request rate
// before the round's own uploads run; the rest wait for the next round.
// An upload that ends unsent asks for its own blob's deletion besides
// (dropBlob), and each blob creation the quota refuses runs the queue once
// more (createFreeingQuota): the queued blobs may be what fills it. Such a
// refusal keeps the upload for the next round while blobs stay queued.
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
// It stops at the first other failure (the relay unreachable or refusing
// for now): the rest wait for the next round.
func (c *Client) deleteQueuedBlobs(ctx context.Context) (n int, more bool, err error) {
	v, a, rc, err := c.blobDeleter()
	if err != nil {
		return 0, true, err // whether any are queued is unknown: assume some
	}
	recs, err := v.List(nsBlobDeletes)
	if err != nil {
		return 0, true, vaultErr(err)
	}
	for _, r := range recs[:min(len(recs), maxBlobDeletesPerRound)] {
		if err := deleteQueuedBlob(ctx, v, rc, a, r.Key); err != nil {
			return n, true, err
		}
		n++
	}
	return n, len(recs) > n, nil
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

// deleteQueuedBlob has the relay delete the blob queued under key (its ID
// in hex) and drops the record once the relay no longer has it. A key
// that is not a blob ID is dropped.
func deleteQueuedBlob(ctx context.Context, v *vault.Vault, rc *relay.Client, a *account, key string) error {
	var id [wire.BlobIDLen]byte
	if n, err := hex.Decode(id[:], []byte(key)); err == nil && n == len(id) {
		err = rc.DeleteBlob(ctx, a.auth(), id)
		if err != nil && !errors.Is(err, wire.CodeNoBlob) {
			return relayErr(err)
		}
	}
	return vaultErr(v.Update(func(tx *vault.Tx) error { return tx.Delete(nsBlobDeletes, key) }))
}
