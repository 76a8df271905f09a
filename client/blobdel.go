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
	return tx.Put(nsBlobDeletes, hex.EncodeToString(u.Up.ID[:]), nil)
}

// deleteQueuedBlobs asks the relay to delete each queued blob and drops
// the records of those it deleted or no longer has. It stops at the first
// other failure (the relay unreachable): the rest wait for the next round.
func (c *Client) deleteQueuedBlobs(ctx context.Context, v *vault.Vault) error {
	recs, err := v.List(nsBlobDeletes)
	if err != nil || len(recs) == 0 {
		return vaultErr(err)
	}
	a, rc, err := c.relayAs()
	if err != nil {
		return err
	}
	for _, r := range recs {
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
