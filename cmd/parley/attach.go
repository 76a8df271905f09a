package main

import (
	"errors"
	"flag"
	"fmt"
	"mime"
	"os"
	"path/filepath"
	"time"

	"parley.dev/client"
)

// sendFile sends one file: "parley send USER --file PATH [CAPTION]". As
// for a text, once the file is stored for sending, an unreachable relay
// or one that refuses it for now means "queued" and success: the next
// sync resumes the upload where it stopped and sends the message.
func (c *cli) sendFile(cl *client.Client, to, path, caption string) error {
	p := c.progress("sending " + filepath.Base(path))
	id, err := cl.SendFile(c.ctx, to, path, client.FileOptions{
		ContentType: mime.TypeByExtension(filepath.Ext(path)), Caption: caption, Progress: p.update,
	})
	p.done()
	status := "sent"
	switch {
	case errors.Is(err, client.ErrQueued):
		status = "queued"
		c.noteQueued(err, "the file waits and resumes where it stopped")
		c.notef("keep %s unchanged until it is sent: the upload reads it from there", path)
	case errors.Is(err, client.ErrTooLarge):
		return withHints(errors.New("the file is larger than the relay accepts"), "send a smaller file, or ask the relay's operator")
	case errors.Is(err, client.ErrQuota):
		return withHints(errors.New("your attachment quota on the relay is full"), "wait for older attachments to expire (30 days by default)")
	case errors.Is(err, client.ErrFileChanged):
		return withHints(errors.New("the file changed while it was being sent"), "send it again: parley send "+to+" --file "+path)
	case err != nil:
		return sendError(to, id != client.MessageID{}, err)
	}
	return c.emit(map[string]string{"id": id.String(), "to": to, "file": filepath.Base(path), "status": status},
		status+" "+filepath.Base(path)+" to "+to+" ("+id.String()+")")
}

// cmdSave decrypts an attachment to a file: "parley save MSGID PATH".
func cmdSave(c *cli, args []string) error {
	return c.withClient("save", args, 2, func(cl *client.Client, args []string) error {
		id, err := client.ParseMessageID(args[0])
		if err != nil {
			return withHints(err, "give the message ID that \"parley history --json USER\" prints")
		}
		dst := args[1]
		if _, err := os.Lstat(dst); err == nil {
			return withHints(errors.New(dst+" exists"), "choose another path, or remove it first")
		}
		tmp := dst + ".parley-part"
		f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		p := c.progress("saving")
		err = cl.SaveAttachment(c.ctx, id, f, p.update)
		p.done()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp, dst)
		}
		if err != nil {
			os.Remove(tmp)
			return saveError(err)
		}
		return c.emit(map[string]string{"id": id.String(), "path": dst, "status": "saved"}, "saved "+dst)
	})
}

func saveError(err error) error {
	switch {
	case errors.Is(err, client.ErrNoAttachment):
		return withHints(err, "list attachments with: parley history USER")
	case errors.Is(err, client.ErrAttachmentGone):
		return withHints(err, "ask the sender to send the file again")
	case errors.Is(err, client.ErrAttachmentCorrupt):
		return withHints(err, "nothing was saved; ask the sender to send the file again")
	}
	return err
}

// progressBar draws "label  12.3 MiB / 40.0 MiB  31%  4.1 MiB/s  ETA 7s" on
// a status line (a terminal only, never with --json).
type progressBar struct {
	line  *statusLine
	label string
	start time.Time
	last  time.Time
}

func (c *cli) progress(label string) *progressBar {
	return &progressBar{line: c.statusLine(), label: label, start: time.Now()}
}

func (p *progressBar) update(done, total int64) {
	if !p.line.shown() || (time.Since(p.last) < 100*time.Millisecond && done < total) {
		return
	}
	p.last = time.Now()
	el := time.Since(p.start).Seconds()
	rate := float64(done) / max(el, 1e-3)
	eta := "?"
	if rate > 0 && total >= done {
		eta = time.Duration(float64(total-done) / rate * float64(time.Second)).Round(time.Second).String()
	}
	pct := 100 * done / max(total, 1)
	p.line.show("%s  %s / %s  %d%%  %s/s  ETA %s", p.label, size(done), size(total), pct, size(int64(rate)), eta)
}

func (p *progressBar) done() { p.line.clear() }

// size formats a byte count.
func size(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	d, e := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		d *= unit
		e++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(d), "KMGTPE"[e])
}

// attachmentNote is how history shows an attachment.
func attachmentNote(a *client.Attachment) string {
	s := "[file " + a.Name + ", " + size(a.Size)
	if a.ContentType != "" {
		s += ", " + a.ContentType
	}
	if a.Saved {
		s += ", saved"
	}
	return s + "]"
}

// sendFlags adds send's flags to fs.
func sendFlags(fs *flag.FlagSet) *string {
	return fs.String("file", "", "")
}
