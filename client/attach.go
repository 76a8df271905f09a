package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"parley.dev/client/internal/content"
	"parley.dev/internal/addr"
	"parley.dev/internal/stream"
	"parley.dev/internal/vault"
)

// Attachments. A file is encrypted on this device under a fresh key with
// a chunked streaming AEAD (internal/stream) and uploaded to the relay as
// an opaque blob; the message that follows carries the key, the blob's ID,
// size and SHA-256, the file's name and type, inside the end-to-end
// session. Receivers download the blob, check it chunk by chunk and as a
// whole, and keep the plaintext only in the vault's encrypted file area.

// Attachment describes a file carried by a message.
type Attachment struct {
	Name        string        `json:"name,omitempty"`
	ContentType string        `json:"type,omitempty"`
	Size        int64         `json:"size"` // plaintext bytes
	Width       int           `json:"w,omitempty"`
	Height      int           `json:"h,omitempty"`
	Duration    time.Duration `json:"dur,omitempty"`
	// Saved: the file is in this device's vault; OpenAttachment and
	// SaveAttachment need no relay.
	Saved bool `json:"-"`
}

// FileOptions describe a file to send. All are optional.
type FileOptions struct {
	// Name is the file name the recipient sees (default: the path's base
	// name). ContentType is a MIME type such as "image/jpeg".
	Name, ContentType string
	// Width, Height and Duration describe images, video and audio.
	Width, Height int
	Duration      time.Duration
	// Caption is a text shown with the file.
	Caption string
	// Progress, if set, is called as the encrypted file goes out, with
	// the bytes done and the total (the file's size).
	Progress func(done, total int64)
}

// Errors of attachments.
var (
	// ErrTooLarge: the file is larger than the relay accepts.
	ErrTooLarge = errors.New("client: file too large for the relay")
	// ErrQuota: the relay keeps no more files of this user for now.
	ErrQuota = errors.New("client: attachment quota on the relay exceeded")
	// ErrFileChanged: the file changed while it was being sent; send it
	// again.
	ErrFileChanged = errors.New("client: the file changed while it was being sent")
	// ErrNoAttachment: no attachment with that message ID.
	ErrNoAttachment = errors.New("client: no such attachment")
	// ErrAttachmentGone: the relay no longer has the file (expired).
	ErrAttachmentGone = errors.New("client: the attachment expired on the relay")
	// ErrAttachmentCorrupt: the downloaded file does not authenticate:
	// the relay or the sender sent something else. Nothing was kept.
	ErrAttachmentCorrupt = errors.New("client: the attachment failed authentication")
)

// Namespaces of attachments (records.go lists them all).
const (
	nsUploads     = "uploads"
	nsAttachments = "attachments"
	// nsAutoDownload indexes the attachments waiting for automatic
	// download: key message ID, value the conversation.
	nsAutoDownload = "autodl"
	attFilePrefix  = "att/"
)

// attachRec is an attachment this device knows of: the pointer (with its
// key) and whether the file is in the vault.
type attachRec struct {
	V        int                `json:"v"`
	Contact  string             `json:"contact"`
	Outgoing bool               `json:"out,omitempty"`
	Ptr      content.Attachment `json:"ptr"`
	Saved    bool               `json:"saved,omitempty"`
	Auto     bool               `json:"auto,omitempty"` // to download automatically
	Down     *downloadProgress  `json:"down,omitempty"`
}

// downloadProgress is a partial download: chunks already in the vault's
// partial file, the blob's header and the SHA-256 state after them.
type downloadProgress struct {
	Chunks uint64 `json:"chunks"`
	Header []byte `json:"hdr"`
	Hash   []byte `json:"hash"`
}

func attFile(id string) string { return attFilePrefix + id }

func publicAttachment(p *content.Attachment, size int64) *Attachment {
	return &Attachment{Name: p.Name, ContentType: p.Type, Size: size, Width: int(p.Width),
		Height: int(p.Height), Duration: p.Duration}
}

// fileAttachment records a received attachment pointer within tx.
func (c *Client) fileAttachment(tx *vault.Tx, conv addr.UserID, outgoing bool, m *content.Message, h *historyRec) error {
	size, err := stream.PlaintextSize(int64(m.Attachment.Size))
	if err != nil {
		return nil // an impossible size: file the text, not the attachment
	}
	h.Att = publicAttachment(m.Attachment, size)
	limit := c.AutoDownload
	rec := attachRec{V: recordVersion, Contact: string(conv), Outgoing: outgoing, Ptr: *m.Attachment,
		Auto: limit > 0 && size <= limit}
	if err := putJSON(tx, nsAttachments, m.ID.String(), &rec); err != nil || !rec.Auto {
		return err
	}
	return tx.Put(nsAutoDownload, m.ID.String(), []byte(conv))
}

// loadAttachment reads an attachment record.
func loadAttachment(v *vault.Vault, id MessageID) (*attachRec, error) {
	var rec attachRec
	err := v.Update(func(tx *vault.Tx) error { return getJSON(tx, nsAttachments, id.String(), &rec) })
	if notFound(err) {
		return nil, ErrNoAttachment
	}
	return &rec, vaultErr(err)
}

// savedAttachments marks, in msgs, the attachments whose file is in the
// vault.
func savedAttachments(v *vault.Vault, msgs []Message) error {
	return vaultErr(v.Update(func(tx *vault.Tx) error {
		for i := range msgs {
			if msgs[i].Attachment == nil {
				continue
			}
			var rec attachRec
			err := getJSON(tx, nsAttachments, msgs[i].ID.String(), &rec)
			if err != nil && !notFound(err) {
				return err
			}
			msgs[i].Attachment.Saved = rec.Saved
		}
		return nil
	}))
}

// AttachmentReader reads an attachment's plaintext from the vault:
// io.Reader, io.Seeker and io.ReaderAt; close it.
type AttachmentReader struct {
	*vault.FileReader
}

// OpenAttachment opens the file of message id, which must be in the vault
// (Attachment.Saved; else Download it first).
func (c *Client) OpenAttachment(id MessageID) (*AttachmentReader, error) {
	v, err := c.vault()
	if err != nil {
		return nil, err
	}
	rec, err := loadAttachment(v, id)
	if err != nil {
		return nil, err
	}
	if !rec.Saved {
		return nil, fmt.Errorf("%w: not downloaded yet", ErrNoAttachment)
	}
	r, err := v.OpenFile(attFile(id.String()))
	if err != nil {
		return nil, vaultErr(err)
	}
	return &AttachmentReader{FileReader: r}, nil
}

// SaveAttachment writes the plaintext of message id's file to w,
// downloading it into the vault first if needed. progress (optional)
// reports the download and then the copy.
func (c *Client) SaveAttachment(ctx context.Context, id MessageID, w io.Writer, progress func(done, total int64)) error {
	if err := c.Download(ctx, id, progress); err != nil {
		return err
	}
	r, err := c.OpenAttachment(id)
	if err != nil {
		return err
	}
	defer r.Close()
	_, err = io.Copy(w, &progressReader{r: r, total: r.Size(), f: progress})
	return err
}

// progressReader reports bytes read.
type progressReader struct {
	r     io.Reader
	done  int64
	total int64
	f     func(done, total int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.done += int64(n)
	if p.f != nil && n > 0 {
		p.f(p.done, p.total)
	}
	return n, err
}
