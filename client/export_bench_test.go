package client

import (
	"context"
	"io"
)

// UploadPlain uploads size bytes of r to the relay as one blob exactly as
// SendFile uploads a file's ciphertext (the same part sizes, SHA-256 and
// finish), but without encrypting and without vault records: the
// baseline of BenchmarkAttachmentUpload.
func UploadPlain(ctx context.Context, c *Client, r io.Reader, size int64) error {
	_, a, err := c.registered()
	if err != nil {
		return err
	}
	rc, err := c.relayClient()
	if err != nil {
		return err
	}
	up, err := rc.CreateBlob(ctx, a.auth(), uint64(size))
	if err != nil {
		return uploadErr(err)
	}
	ps := newPartSender(ctx, rc, up, 0, size, nil)
	if _, err := io.Copy(ps, r); err != nil {
		return err
	}
	if err := ps.flush(); err != nil {
		return err
	}
	_, err = rc.FinishBlob(ctx, up, [32]byte(ps.h.Sum(nil)))
	return uploadErr(err)
}
