package client

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"

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

// maxBlobDeletesPerRound bounds the deletions one upload round asks for,
// so that a long queue (many uploads swept while offline) cannot use up
// the device's request rate before the round's own uploads run; the rest
// wait for the next round.
const maxBlobDeletesPerRound = 8

// flushBlobDeletes runs deleteQueuedBlobs now, for an upload that just
// ended without being sent; what fails waits for the next round.
func (c *Client) flushBlobDeletes(ctx context.Context) {
	v, err := c.vault()
	if err == nil {
		err = c.deleteQueuedBlobs(ctx, v)
	}
	if err != nil {
		c.log.Debug("an unsent upload's blob waits for the next round", "err", err)
	}
}

// deleteQueuedBlobs asks the relay to delete queued blobs, at most
// maxBlobDeletesPerRound, and drops the records of those it deleted or no
// longer has. It stops at the first other failure (the relay unreachable):
// the rest wait for the next round.
func (c *Client) deleteQueuedBlobs(ctx context.Context, v *vault.Vault) error {
	recs, err := v.List(nsBlobDeletes)
	if err != nil || len(recs) == 0 {
		return vaultErr(err)
	}
	a, rc, err := c.relayAs()
	if err != nil {
		return err
	}
	for _, r := range recs[:min(len(recs), maxBlobDeletesPerRound)] {
		var id [wire.BlobIDLen]byte
		if n, err := hex.Decode(id[:], []byte(r.Key)); err == nil && n == len(id) {
			err = rc.DeleteBlob(ctx, a.auth(), id)
			if err != nil && !errors.Is(err, wire.CodeNoBlob) {
				return relayErr(err)
			}
		}
		if err := v.Update(func(tx *vault.Tx) error { return tx.Delete(nsBlobDeletes, r.Key) }); err != nil {
			return vaultErr(err)
		}
	}
	return nil
}
