package client

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"parley.dev/client/internal/content"
	"parley.dev/client/internal/relay"
	"parley.dev/internal/addr"
	"parley.dev/internal/stream"
	"parley.dev/internal/vault"
	"parley.dev/internal/wire"
)

// Upload parts: the first is small, later ones grow while parts go fast
// and shrink when they are slow, so a bad network loses little on a drop
// and a good one pays few round trips.
const (
	minPart      = 256 << 10
	maxPart      = 4 << 20
	fastPart     = time.Second
	slowPart     = 5 * time.Second
	renewLeadway = time.Minute // renew a capability this long before it expires
)

// uploadRec is an attachment on its way to the relay. The source is a
// path (checked unchanged by size and modification time before every
// attempt) or a copy spooled into the vault's file area. Key and Header
// are kept so that re-encrypting after a restart gives the same bytes.
type uploadRec struct {
	V        int              `json:"v"`
	ID       string           `json:"id"`
	To       string           `json:"to"`
	Caption  string           `json:"caption,omitempty"`
	Sent     int64            `json:"sent"`
	Key      []byte           `json:"key"`
	Header   []byte           `json:"hdr"`
	Path     string           `json:"path,omitempty"`
	PathSize int64            `json:"psize,omitempty"`
	PathMod  int64            `json:"pmod,omitempty"`
	Size     int64            `json:"size"`
	Meta     Attachment       `json:"meta"`
	Up       *wire.BlobUpload `json:"up,omitempty"`
	Timer    int64            `json:"timer,omitempty"` // seconds, as outboxItem's
}

// SendFile sends the file at path to user as an attachment: it is
// encrypted as it is read and uploaded in parts, then the message
// carrying its key goes out like Send's. A network drop in the middle of
// the upload is retried at once, resuming where the relay stopped, for as
// long as attempts make progress.
//
// As with Send, the returned ID is valid whenever the file was stored for
// sending, even with an error, and the error says exactly where it stands
// (its Status in History):
//   - nil: the file is at the relay and the message carrying it was stored
//     for every device of the recipient (StatusSent);
//   - ErrQueued: the relay was unreachable (ErrUnreachable too) or refused
//     it for now (the error matches that cause as well); the upload
//     (StatusUploading) or the message (StatusQueued) waits and goes on by
//     itself, where it stopped, on the next Send, Sync or Listen, after a
//     restart too. Keep the file at path unchanged until then (else
//     ErrFileChanged). Do not send it again: that would deliver it twice;
//   - ErrTooLarge, ErrQuota, ErrFileChanged: the relay will not take this
//     file; it is marked failed (StatusFailed), with an EventError. (While
//     the relay is still deleting blobs this device abandoned, which may be
//     what fills the quota, a quota refusal waits instead: ErrQueued);
//   - ErrIdentityChanged, ErrUnknownUser, a *RelayError: as for Send.
//
// Other errors (ErrInvalid for a missing file, ErrNotRegistered ...)
// store nothing and return a zero ID.
func (c *Client) SendFile(ctx context.Context, to, path string, opt FileOptions) (MessageID, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return MessageID{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	st, err := os.Stat(abs)
	if err != nil || !st.Mode().IsRegular() {
		return MessageID{}, fmt.Errorf("%w: %s is not a readable file", ErrInvalid, path)
	}
	if opt.Name == "" {
		opt.Name = filepath.Base(abs)
	}
	u := &uploadRec{Path: abs, PathSize: st.Size(), PathMod: st.ModTime().UnixNano(), Size: st.Size()}
	return c.sendAttachment(ctx, to, u, opt, nil)
}

// SendFileFrom is SendFile for a stream: r is first copied, encrypted,
// into the vault (so the upload can resume after a restart, and this
// device keeps the file it sent), then sent.
func (c *Client) SendFileFrom(ctx context.Context, to string, r io.Reader, opt FileOptions) (MessageID, error) {
	return c.sendAttachment(ctx, to, &uploadRec{}, opt, r)
}

func (c *Client) sendAttachment(ctx context.Context, to string, u *uploadRec, opt FileOptions, r io.Reader) (MessageID, error) {
	v, a, err := c.registered()
	if err != nil {
		return MessageID{}, err
	}
	user, err := addr.ParseUserID(to)
	switch {
	case err != nil:
		return MessageID{}, fmt.Errorf("%w: user name %q", ErrInvalid, to)
	case user == a.self().User:
		return MessageID{}, fmt.Errorf("%w: cannot send to yourself", ErrInvalid)
	case !content.SafeName(opt.Name) || len(opt.Name) > content.MaxNameLen || len(opt.Caption) > MaxTextLen:
		return MessageID{}, fmt.Errorf("%w: file name or caption", ErrInvalid)
	}
	if err := c.checkOutgoing(); err != nil {
		return MessageID{}, err
	}
	if err := c.checkAttachment(u.Size); err != nil {
		return MessageID{}, err
	}
	id := addr.NewMessageID()
	unlock, _ := c.transfers.tryLock(id.String()) // a fresh ID: free
	defer unlock()
	key, hdr := stream.GenerateKey(), stream.NewHeader()
	u.V, u.ID, u.To, u.Caption, u.Sent = recordVersion, id.String(), string(user), opt.Caption, c.clock().UnixMilli()
	u.Key, u.Header = key.Bytes(), hdr[:]
	key.Wipe()
	if r != nil {
		if u.Size, err = spool(v, u.ID, r); err != nil {
			return MessageID{}, err
		}
		if err := c.checkAttachment(u.Size); err != nil {
			v.RemoveFile(attFile(u.ID))
			return MessageID{}, err
		}
	}
	u.Meta = Attachment{Name: opt.Name, ContentType: opt.ContentType, Size: u.Size, Width: opt.Width,
		Height: opt.Height, Duration: opt.Duration.Truncate(time.Millisecond)}
	if err := c.enqueueUpload(v, u, r != nil); err != nil {
		if r != nil {
			v.RemoveFile(attFile(u.ID))
		}
		return MessageID{}, err
	}
	err = c.upload(ctx, u, opt.Progress)
	if err == nil {
		var errs map[addr.UserID]error
		errs, err = c.flushNow(ctx)
		if err == nil {
			err = errs[user]
		}
	}
	return MessageID(id), c.sendOutcome(v, user, id, err)
}

// spool copies r into the vault file of message id.
func spool(v *vault.Vault, id string, r io.Reader) (int64, error) {
	w, err := v.CreateFile(attFile(id))
	if err != nil {
		return 0, vaultErr(err)
	}
	n, err := io.Copy(w, r)
	if err != nil {
		w.Abort()
		return 0, fmt.Errorf("client: reading the file: %w", err)
	}
	return n, vaultErr(w.Commit())
}

// enqueueUpload stores the upload, its history entry and its attachment
// record in one transaction.
func (c *Client) enqueueUpload(v *vault.Vault, u *uploadRec, spooled bool) error {
	err := v.Update(func(tx *vault.Tx) error {
		if err := checkNotHeld(tx, addr.UserID(u.To)); err != nil {
			return err
		}
		meta := u.Meta
		h := historyRec{V: recordVersion, ID: u.ID, Outgoing: true, Text: u.Caption, Sent: u.Sent,
			Received: u.Sent, Status: StatusUploading, Att: &meta, Ord: c.order()}
		timer, err := c.stampTimer(tx, addr.UserID(u.To), &h)
		if err != nil {
			return err
		}
		u.Timer = timer
		if err := putJSON(tx, historyNS(addr.UserID(u.To)), u.ID, &h); err != nil {
			return err
		}
		rec := attachRec{V: recordVersion, Contact: u.To, Outgoing: true, Saved: spooled}
		if err := putJSON(tx, nsAttachments, u.ID, &rec); err != nil {
			return err
		}
		return putJSON(tx, nsUploads, u.ID, u)
	})
	if errors.Is(err, ErrIdentityChanged) {
		return err
	}
	return vaultErr(err)
}

// resumeUploads continues every upload left by an earlier run: inline
// (Sync), or in Listen's transfer worker, which it wakes instead.
func (c *Client) resumeUploads(ctx context.Context) error {
	if c.wakeTransfers() {
		return nil
	}
	_, err := c.runUploads(ctx)
	return err
}

// runUploads has the relay delete the blobs of swept uploads, then
// continues every upload whose transfer does not run elsewhere and returns
// how many finished.
func (c *Client) runUploads(ctx context.Context) (finished int, err error) {
	v, err := c.vault()
	if err != nil {
		return 0, err
	}
	if _, _, err := c.deleteQueuedBlobs(ctx); err != nil {
		c.log.Debug("swept uploads' blobs wait for the next round", "err", err)
	}
	recs, err := v.List(nsUploads)
	if err != nil {
		return 0, vaultErr(err)
	}
	sortBySent(recs) // files go out in the order they were sent
	for _, r := range recs {
		unlock, _ := c.transfers.tryLock(r.Key)
		if unlock == nil {
			continue // SendFile or the other of Sync and Listen has it
		}
		u, err := loadUpload(v, r.Key) // as it is now that it is locked
		if err == nil && u != nil {
			if err = c.upload(ctx, u, nil); err == nil {
				finished++
			}
		}
		unlock()
		if errors.Is(err, ErrUnreachable) || ctx.Err() != nil || (err != nil && u == nil) {
			return finished, err
		}
	}
	return finished, nil
}

// sortBySent orders upload records by the time SendFile took them
// (unreadable ones last; loadUpload reports them).
func sortBySent(recs []vault.Record) {
	sent := func(r vault.Record) int64 {
		var u struct {
			Sent int64 `json:"sent"`
		}
		if json.Unmarshal(r.Value, &u) != nil {
			return math.MaxInt64
		}
		return u.Sent
	}
	slices.SortStableFunc(recs, func(a, b vault.Record) int { return cmp.Compare(sent(a), sent(b)) })
}

// loadUpload reads an upload record; nil if it is gone (finished).
func loadUpload(v *vault.Vault, id string) (*uploadRec, error) {
	u := new(uploadRec)
	err := v.Update(func(tx *vault.Tx) error { return getJSON(tx, nsUploads, id, u) })
	if notFound(err) {
		return nil, nil
	}
	return u, vaultErr(err)
}

// upload sends u's blob, retrying after network drops while attempts make
// progress, then turns it into an outbox message; a permanent refusal
// marks it failed. The caller holds u's transfer lock.
func (c *Client) upload(ctx context.Context, u *uploadRec, progress func(done, total int64)) error {
	var sum [32]byte
	err := retry(ctx, func() (bool, error) {
		var progressed bool
		var err error
		sum, progressed, err = c.uploadOnce(ctx, u, progress)
		if err != nil && !errors.Is(err, ErrUnreachable) {
			c.log.Debug("upload interrupted", "err", err)
		}
		return progressed, err
	})
	if err == nil {
		err = c.uploaded(u, sum)
	}
	switch {
	case errors.Is(err, ErrExpired): // the sweep or saveUpload queued its blob
	case errors.Is(err, ErrTooLarge), errors.Is(err, ErrQuota), errors.Is(err, ErrFileChanged), errors.Is(err, ErrInvalid):
		if !c.failUpload(u, err) {
			return err
		}
	default:
		return err
	}
	if u.Up != nil {
		c.dropBlob(ctx, u.Up.ID) // it will not be sent: free the relay's space now
	}
	return err
}

// uploadOnce makes sure the relay has a blob for u, then sends what it
// lacks and finishes it, returning the blob's SHA-256.
// It reports whether the relay took any new byte.
func (c *Client) uploadOnce(ctx context.Context, u *uploadRec, progress func(done, total int64)) (sum [32]byte, progressed bool, err error) {
	v, a, err := c.registered()
	if err != nil {
		return sum, false, err
	}
	rc, err := c.relayClient()
	if err != nil {
		return sum, false, err
	}
	stored, err := c.blobFor(ctx, rc, a, v, u)
	if err != nil {
		return sum, false, err
	}
	src, err := c.openSource(v, u)
	if err != nil {
		return sum, false, err
	}
	defer src.Close()
	ps := newPartSender(ctx, rc, u.Up, stored, u.Size, progress)
	ps.alive = func() error { return uploadAlive(v, u.ID) }
	if err := encryptTo(ps, u, src); err != nil {
		return sum, ps.sent > stored, err
	}
	sum = [32]byte(ps.h.Sum(nil))
	if _, err := rc.FinishBlob(ctx, u.Up, sum); err != nil && !errors.Is(err, wire.CodeBlobState) {
		if errors.Is(err, wire.CodeChecksum) {
			return sum, false, ErrFileChanged
		}
		return sum, ps.sent > stored, uploadErr(err)
	}
	return sum, true, nil
}

// encryptTo writes u's stream (header, then chunks of src) to ps.
func encryptTo(ps *partSender, u *uploadRec, src io.Reader) error {
	key, err := stream.NewKey(u.Key)
	if err != nil {
		return err
	}
	defer key.Wipe()
	hdr, err := stream.ParseHeader(u.Header)
	if err != nil {
		return err
	}
	if _, err := ps.Write(hdr[:]); err != nil {
		return err
	}
	w := stream.ResumeWriter(ps, key, hdr, 0)
	if _, err := io.Copy(w, src); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return ps.flush()
}

// blobFor creates the relay blob or checks an existing one, renewing its
// capability when needed, and returns how many bytes the relay has.
func (c *Client) blobFor(ctx context.Context, rc *relay.Client, a *account, v *vault.Vault, u *uploadRec) (uint64, error) {
	if u.Up != nil {
		capa, err := wire.ParseAs[*wire.BlobCapability](u.Up.Capability)
		if err == nil && c.clock().Add(renewLeadway).Before(capa.Expires) {
			st, err := rc.BlobStatus(ctx, u.Up)
			if err == nil {
				return st.Stored, nil
			}
			if !errors.Is(err, wire.CodeUnauthorized) && !errors.Is(err, wire.CodeNoBlob) {
				return 0, uploadErr(err)
			}
		}
		up, err := rc.RenewBlob(ctx, a.auth(), u.Up.ID)
		switch {
		case err == nil:
			u.Up = up
			return up.Stored, c.saveUpload(v, u)
		case !errors.Is(err, wire.CodeNoBlob):
			return 0, uploadErr(err)
		}
		u.Up = nil // the unfinished blob expired: start again
	}
	size := uint64(stream.CiphertextSize(u.Size))
	up, err := rc.CreateBlob(ctx, a.auth(), size)
	if errors.Is(err, wire.CodeQuota) {
		up, err = c.createFreeingQuota(ctx, rc, a, size)
	} else if err != nil {
		err = uploadErr(err)
	}
	if err != nil {
		return 0, err
	}
	u.Up = up
	err = c.saveUpload(v, u)
	if err != nil && !errors.Is(err, ErrExpired) {
		// Recorded nowhere (saveUpload queues it when swept): delete it now
		// rather than leave it to the relay's expiry.
		if derr := rc.DeleteBlob(ctx, a.auth(), up.ID); derr != nil {
			c.log.Debug("deleting a blob the vault could not record", "err", derr)
		}
		u.Up = nil
	}
	return 0, err
}

// errQuotaWaits: the relay refused a blob over the quota while blobs this
// device queued for deletion remain, which may be what fills it: the
// upload waits for the next round, which deletes more of them.
var errQuotaWaits = errors.New("client: the relay's attachment quota is full until it deletes this device's abandoned files")

// createFreeingQuota creates a blob of size bytes after the quota refused
// it: blobs queued for deletion may be what fills the quota (the relay
// was down when their uploads ended), so it has the relay delete them
// (one run, deleteQueuedBlobs) and tries again. If the quota still
// refuses, the upload waits for the next round only while that can help:
// blobs stay queued and this run deleted some (errQuotaWaits), or the run
// was stopped by the network, the rate limit or the vault (that error).
// Each wait thus shrinks the queue or waits out a failure that is not the
// relay's answer on a blob, and a refusal while the queue is empty, or
// stuck on blobs the relay refuses to delete, fails the file for good
// (ErrQuota).
func (c *Client) createFreeingQuota(ctx context.Context, rc *relay.Client, a *account, size uint64) (*wire.BlobUpload, error) {
	n, more, derr := c.deleteQueuedBlobs(ctx)
	err := error(wire.CodeQuota)
	if n > 0 {
		var up *wire.BlobUpload
		if up, err = rc.CreateBlob(ctx, a.auth(), size); err == nil {
			return up, nil
		}
	}
	switch {
	case !errors.Is(err, wire.CodeQuota):
		return nil, uploadErr(err)
	case more && n > 0:
		return nil, errQuotaWaits
	case derr != nil && !errors.Is(derr, errDeleteRefused):
		return nil, derr // the run stopped (the network, the rate limit, the vault): the upload stays
	}
	return nil, uploadErr(err)
}

// saveUpload stores u's new blob; ErrExpired if the sweep deleted the
// message (and its upload record) meanwhile, which must stay deleted. The
// sweep could not queue that blob for deletion (the record did not name
// it yet), so saveUpload queues it in the same transaction.
func (c *Client) saveUpload(v *vault.Vault, u *uploadRec) error {
	c.runHook(func(h *testHooks) func() { return h.beforeSaveUpload })
	swept := false
	err := v.Update(func(tx *vault.Tx) error {
		ok, err := replaceJSON(tx, nsUploads, u.ID, u)
		if err != nil || ok {
			return err
		}
		swept = true
		return queueBlobDelete(tx, u.Up.ID)
	})
	if err == nil && swept {
		return ErrExpired
	}
	return vaultErr(err)
}

// openSource opens the plaintext: the spooled vault copy, or the path if
// it is unchanged.
func (c *Client) openSource(v *vault.Vault, u *uploadRec) (io.ReadCloser, error) {
	if u.Path == "" {
		r, err := v.OpenFile(attFile(u.ID))
		if err != nil {
			return nil, vaultErr(err)
		}
		return r, nil
	}
	f, err := os.Open(u.Path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFileChanged, err)
	}
	st, err := f.Stat()
	if err != nil || st.Size() != u.PathSize || st.ModTime().UnixNano() != u.PathMod {
		f.Close()
		return nil, ErrFileChanged
	}
	return f, nil
}

// uploadErr maps relay refusals of uploads to the SDK's errors.
func uploadErr(err error) error {
	switch {
	case errors.Is(err, wire.CodeTooLarge):
		return fmt.Errorf("%w: %v", ErrTooLarge, err)
	case errors.Is(err, wire.CodeQuota):
		return fmt.Errorf("%w: %v", ErrQuota, err)
	}
	return relayErr(err)
}

// uploaded turns a finished upload into an outbox message, in one
// transaction. If the sweep deleted the message while it uploaded (its
// timer ran out), nothing is queued and the error is ErrExpired (upload
// then deletes the blob at the relay).
func (c *Client) uploaded(u *uploadRec, sum [32]byte) error {
	v, err := c.vault()
	if err != nil {
		return err
	}
	ptr := content.Attachment{Blob: u.Up.ID, Size: u.Up.Size, SHA256: sum, Type: u.Meta.ContentType,
		Name: u.Meta.Name, Width: uint32(u.Meta.Width), Height: uint32(u.Meta.Height), Duration: u.Meta.Duration}
	copy(ptr.Key[:], u.Key)
	err = v.Update(func(tx *vault.Tx) error { return c.queueUploaded(tx, u, &ptr) })
	if errors.Is(err, ErrExpired) {
		return err
	}
	return vaultErr(err)
}

// queueUploaded queues the message of finished upload u, whose blob ptr
// points to, in tx; ErrExpired if the sweep deleted the message.
func (c *Client) queueUploaded(tx *vault.Tx, u *uploadRec, ptr *content.Attachment) error {
	if _, err := tx.Get(nsUploads, u.ID); notFound(err) {
		return ErrExpired // the sweep deleted the message with its upload
	} else if err != nil {
		return err
	}
	id, _ := addr.ParseMessageID(u.ID)
	var rec attachRec
	if err := getJSON(tx, nsAttachments, u.ID, &rec); err != nil && !notFound(err) {
		return err
	}
	rec.V, rec.Contact, rec.Outgoing, rec.Ptr = recordVersion, u.To, true, *ptr
	if err := putJSON(tx, nsAttachments, u.ID, &rec); err != nil {
		return err
	}
	item := outboxItem{V: recordVersion, ID: u.ID, To: u.To, Text: u.Caption, Sent: u.Sent, Att: ptr, Timer: u.Timer}
	if err := putJSON(tx, nsOutbox, outboxKey(c.clock(), id), &item); err != nil {
		return err
	}
	if _, err := setStatus(tx, addr.UserID(u.To), u.ID, StatusQueued); notFound(err) {
		return ErrExpired
	} else if err != nil {
		return err
	}
	return tx.Delete(nsUploads, u.ID)
}

// failUpload drops an upload that cannot succeed, marks it failed and
// queues its blob, if it has one, for deletion at the relay. It reports
// whether it did: if the vault refused, the upload stays to be retried.
func (c *Client) failUpload(u *uploadRec, cause error) bool {
	v, err := c.vault()
	if err != nil {
		return false
	}
	var h *historyRec
	err = v.Update(func(tx *vault.Tx) error {
		h, _ = setStatus(tx, addr.UserID(u.To), u.ID, StatusFailed)
		if u.Up != nil {
			if err := queueBlobDelete(tx, u.Up.ID); err != nil {
				return err
			}
		}
		return tx.Delete(nsUploads, u.ID)
	})
	if err != nil {
		c.log.Debug("marking an upload failed", "err", err)
		return false
	}
	if h != nil {
		m := h.message(addr.UserID(u.To))
		c.emitEvent(Event{Kind: EventError, Message: &m, Err: cause})
	}
	return true
}
