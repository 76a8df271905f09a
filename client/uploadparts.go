package client

// The part sender: an upload's encrypted stream, hashed whole and sent to
// the relay in parts from where the relay's copy ends.

import (
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"time"

	"parley.dev/client/internal/relay"
	"parley.dev/internal/vault"
	"parley.dev/internal/wire"
)

// partSender receives the stream, hashes all of it, and uploads what the
// relay lacks in parts.
type partSender struct {
	ctx         context.Context
	rc          *relay.Client
	up          *wire.BlobUpload
	h           hash.Hash
	pos         uint64 // stream bytes seen
	sent        uint64 // bytes the relay has
	buf         []byte
	part        int
	total       int64 // ciphertext size
	plain       int64 // plaintext size, for progress
	progress    func(done, total int64)
	transferred int64
	// alive, if set, is called before each part: an error (ErrExpired)
	// ends the upload there.
	alive func() error
}

// uploadAlive is nil while upload id is still to be sent, and ErrExpired
// once the sweep has deleted its message: the rest is not uploaded.
func uploadAlive(v *vault.Vault, id string) error {
	_, err := v.Get(nsUploads, id)
	if notFound(err) {
		return ErrExpired
	}
	return vaultErr(err)
}

// newPartSender starts sending the blob of up, of which the relay has
// stored bytes, for a file of plain bytes. Its buffer is allocated once at
// the largest part: growing it part after part left garbage that doubled
// an upload's memory.
func newPartSender(ctx context.Context, rc *relay.Client, up *wire.BlobUpload, stored uint64, plain int64, progress func(done, total int64)) *partSender {
	return &partSender{ctx: ctx, rc: rc, up: up, sent: stored, part: minPart, h: sha256.New(),
		buf: make([]byte, 0, min(maxPart, int64(up.Size))), total: int64(up.Size), plain: plain, progress: progress}
}

func (p *partSender) Write(b []byte) (int, error) {
	p.h.Write(b)
	n := len(b)
	if skip := int64(p.sent) - int64(p.pos); skip > 0 {
		b = b[min(int64(len(b)), skip):]
	}
	p.pos += uint64(n)
	for len(b) > 0 {
		k := min(len(b), p.part-len(p.buf))
		p.buf = append(p.buf, b[:k]...)
		b = b[k:]
		if len(p.buf) >= p.part {
			if err := p.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

// flush uploads the buffered part.
func (p *partSender) flush() error {
	if len(p.buf) == 0 {
		return nil
	}
	if p.alive != nil {
		if err := p.alive(); err != nil {
			return err
		}
	}
	start := time.Now()
	st, err := p.rc.AppendBlob(p.ctx, p.up, p.sent, p.buf)
	if err != nil {
		return uploadErr(err)
	}
	if st.Stored != p.sent+uint64(len(p.buf)) {
		return fmt.Errorf("%w: relay stored %d, expected %d", ErrUnreachable, st.Stored, p.sent+uint64(len(p.buf)))
	}
	p.sent = st.Stored
	p.buf = p.buf[:0]
	switch took := time.Since(start); {
	case took < fastPart && p.part < maxPart:
		p.part *= 2
	case took > slowPart && p.part > minPart:
		p.part /= 2
	}
	if p.progress != nil && p.total > 0 {
		p.progress(int64(p.sent)*p.plain/p.total, p.plain)
	}
	return nil
}
