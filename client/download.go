package client

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding"
	"errors"
	"fmt"
	"hash"
	"io"

	"parley.dev/client/internal/relay"
	"parley.dev/internal/addr"
	"parley.dev/internal/stream"
	"parley.dev/internal/vault"
	"parley.dev/internal/wire"
)

// checkpointChunks is how often a download saves its progress (64 chunks,
// 4 MiB): a dropped connection loses at most that much.
const checkpointChunks = 64

// Download fetches the file of message id from the relay into the vault,
// unless it is there already. Each 64 KiB chunk is authenticated before it
// is kept and the whole blob's SHA-256 is checked at the end; only then is
// the file marked saved, so a broken or partial download is never shown.
// After a network drop it resumes where it stopped (the last checkpoint,
// at most 4 MiB back), at once while attempts make progress, else in a
// later call, after a restart too. If the attachment is being downloaded
// already (by Listen), Download waits for that. progress is optional.
func (c *Client) Download(ctx context.Context, id MessageID, progress func(done, total int64)) error {
	unlock, err := c.transfers.lock(ctx, id.String())
	if err != nil {
		return err
	}
	defer unlock()
	return c.download(ctx, id, progress)
}

// download is Download under id's transfer lock.
func (c *Client) download(ctx context.Context, id MessageID, progress func(done, total int64)) error {
	v, err := c.vault()
	if err != nil {
		return err
	}
	rc, err := c.relayClient()
	if err != nil {
		return err
	}
	return retry(ctx, func() (bool, error) {
		rec, err := loadAttachment(v, id)
		switch {
		case err != nil || rec.Saved:
			return false, err
		case rec.Ptr.Size == 0: // an upload of this device, not finished
			return false, fmt.Errorf("%w: still being sent", ErrNoAttachment)
		}
		d := &downloader{v: v, id: id, rec: rec, progress: progress}
		if rec.Down != nil {
			d.first = rec.Down.Chunks
		}
		err = d.run(ctx, rc)
		return d.saved > d.first, err
	})
}

// downloader is one attempt at one download.
type downloader struct {
	v        *vault.Vault
	id       MessageID
	rec      *attachRec
	progress func(done, total int64)
	fw       *vault.FileWriter
	first    uint64 // chunks checkpointed before this attempt
	saved    uint64 // chunks checkpointed by this attempt
	h        hash.Hash
	hdr      stream.Header
}

func (d *downloader) run(ctx context.Context, rc *relay.Client) error {
	ctSize := int64(d.rec.Ptr.Size)
	n, lastLen, err := stream.Chunks(ctSize)
	if err != nil {
		return ErrAttachmentCorrupt
	}
	first, err := d.open()
	if err != nil {
		return err
	}
	off := int64(0)
	if first > 0 {
		off = stream.HeaderSize + int64(first)*stream.EncChunkSize
	}
	body, err := rc.DownloadBlob(ctx, d.rec.Ptr.Blob, off)
	if err != nil {
		d.fw.Close()
		if errors.Is(err, wire.CodeNoBlob) {
			return ErrAttachmentGone
		}
		return relayErr(err)
	}
	defer body.Close()
	br := bufio.NewReaderSize(body, 256<<10)
	if first == 0 {
		var h [stream.HeaderSize]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			d.fw.Close()
			return fmt.Errorf("%w: %v", ErrUnreachable, err)
		}
		if d.hdr, err = stream.ParseHeader(h[:]); err != nil {
			d.fw.Abort()
			return ErrAttachmentCorrupt
		}
		d.h.Write(h[:])
	}
	if err := d.chunks(br, first, uint64(n), lastLen); err != nil {
		return err
	}
	return d.finish()
}

// open starts or resumes the vault file and returns the first chunk to
// fetch.
func (d *downloader) open() (uint64, error) {
	d.h = sha256.New()
	name := attFile(d.id.String())
	if p := d.rec.Down; p != nil {
		hdr, err := stream.ParseHeader(p.Header)
		if err == nil {
			err = d.h.(encoding.BinaryUnmarshaler).UnmarshalBinary(p.Hash)
		}
		if err == nil {
			d.fw, err = d.v.ResumeFile(name, p.Chunks)
		}
		if err == nil {
			d.hdr = hdr
			return p.Chunks, nil
		}
		d.h = sha256.New() // start over
	}
	fw, err := d.v.CreateFile(name)
	if err != nil {
		return 0, vaultErr(err)
	}
	d.fw = fw
	return 0, nil
}

// chunks reads, hashes, authenticates and stores chunks first..n-1.
func (d *downloader) chunks(br io.Reader, first, n uint64, lastLen int64) error {
	key, err := stream.NewKey(d.rec.Ptr.Key[:])
	if err != nil {
		return ErrAttachmentCorrupt
	}
	defer key.Wipe()
	op := stream.NewOpener(key, d.hdr)
	enc := make([]byte, stream.EncChunkSize)
	pt := make([]byte, 0, stream.ChunkSize)
	total := int64(d.rec.Ptr.Size)
	for i := first; i < n; i++ {
		size := int64(stream.EncChunkSize)
		if i == n-1 {
			size = lastLen
		}
		if _, err := io.ReadFull(br, enc[:size]); err != nil {
			d.fw.Close()
			return fmt.Errorf("%w: download cut: %v", ErrUnreachable, err)
		}
		var prev []byte
		if i%checkpointChunks == checkpointChunks-1 && i < n-1 {
			prev, _ = d.h.(encoding.BinaryMarshaler).MarshalBinary()
		}
		d.h.Write(enc[:size])
		out, err := op.Open(pt[:0], i, i == n-1, enc[:size])
		if err != nil {
			d.fw.Abort()
			d.saveProgress(nil)
			return fmt.Errorf("%w: %v", ErrAttachmentCorrupt, err)
		}
		if _, err := d.fw.Write(out); err != nil {
			d.fw.Close()
			return vaultErr(err)
		}
		if prev != nil { // the writer has stored chunks 0..i-1
			if err := d.fw.Sync(); err != nil {
				return vaultErr(err)
			}
			d.saved = d.fw.Chunks()
			d.saveProgress(&downloadProgress{Chunks: d.saved, Header: d.hdr[:], Hash: prev})
		}
		if d.progress != nil {
			d.progress(min(int64(i+1)*stream.EncChunkSize, total), total)
		}
	}
	return nil
}

// finish checks the whole blob's hash, then commits the file and marks
// the attachment saved.
func (d *downloader) finish() error {
	if [32]byte(d.h.Sum(nil)) != d.rec.Ptr.SHA256 {
		d.fw.Abort()
		d.saveProgress(nil)
		return fmt.Errorf("%w: SHA-256 differs", ErrAttachmentCorrupt)
	}
	if err := d.fw.Commit(); err != nil {
		return vaultErr(err)
	}
	return vaultErr(d.v.Update(func(tx *vault.Tx) error {
		var rec attachRec
		if err := getJSON(tx, nsAttachments, d.id.String(), &rec); err != nil {
			return err
		}
		rec.Saved, rec.Down, rec.Auto = true, nil, false
		if err := tx.Delete(nsAutoDownload, d.id.String()); err != nil && !notFound(err) {
			return err
		}
		return putJSON(tx, nsAttachments, d.id.String(), &rec)
	}))
}

// saveProgress records a checkpoint (nil: none, start over next time).
func (d *downloader) saveProgress(p *downloadProgress) {
	d.v.Update(func(tx *vault.Tx) error {
		var rec attachRec
		if err := getJSON(tx, nsAttachments, d.id.String(), &rec); err != nil {
			return err
		}
		rec.Down = p
		return putJSON(tx, nsAttachments, d.id.String(), &rec)
	})
}

// autoDownload fetches the attachments waiting for automatic download
// (those of at most AutoDownload bytes, indexed in nsAutoDownload), skipping
// any whose transfer runs elsewhere. Each one downloaded is reported
// (EventDownloaded); one that can never be downloaded (gone from the
// relay, corrupt) leaves the index and is reported as an EventError
// naming its message; a network failure ends the round, and the next
// connection tries again.
func (c *Client) autoDownload(ctx context.Context) {
	v, err := c.vault()
	if err != nil {
		return
	}
	recs, err := v.List(nsAutoDownload)
	if err != nil {
		c.log.Warn("cannot list automatic downloads", "err", vaultErr(err))
		return
	}
	for _, r := range recs {
		id, err := ParseMessageID(r.Key)
		if err != nil {
			continue
		}
		unlock, _ := c.transfers.tryLock(r.Key)
		if unlock == nil {
			continue
		}
		err = c.download(ctx, id, nil)
		unlock()
		if ctx.Err() != nil {
			return
		}
		if !c.downloaded(v, id, r.Value, err) {
			return
		}
	}
}

// downloaded reports the outcome of an automatic download (conv is the
// index's value: the conversation) and says whether to go on with others.
func (c *Client) downloaded(v *vault.Vault, id MessageID, conv []byte, err error) bool {
	m := c.historyMessage(v, addr.UserID(conv), id)
	switch {
	case err == nil:
		if m != nil {
			c.emitEvent(Event{Kind: EventDownloaded, Message: m})
		}
		return true
	case errors.Is(err, ErrUnreachable), errors.Is(err, ErrRateLimited):
		c.log.Info("automatic downloads wait for the next connection", "err", err)
		return false
	}
	c.log.Warn("automatic download failed", "err", err)
	if verr := v.Update(func(tx *vault.Tx) error { return tx.Delete(nsAutoDownload, id.String()) }); verr != nil {
		c.log.Warn("cannot drop an automatic download", "err", vaultErr(verr))
	}
	c.emitEvent(Event{Kind: EventError, Message: m, Err: err})
	return true
}

// historyMessage returns message id of conversation conv as History
// shows it, or nil if it is gone.
func (c *Client) historyMessage(v *vault.Vault, conv addr.UserID, id MessageID) *Message {
	var h historyRec
	err := v.Update(func(tx *vault.Tx) error { return getHistory(tx, conv, id.String(), &h) })
	if err != nil {
		return nil
	}
	m := h.message(conv)
	ms := []Message{m}
	if savedAttachments(v, ms) != nil {
		return nil
	}
	return &ms[0]
}
