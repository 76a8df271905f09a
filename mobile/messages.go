package mobile

import (
	"context"
	"errors"
	"os"
	"strings"

	"parley.dev/client"
)

// Send writes text to user and returns once the relay has stored it for
// every device of theirs (Status "sent") or it waits in the encrypted
// outbox (Status "queued": the relay was unreachable within timeoutMs, or
// refused it for now; it goes out by itself, so do not send it again).
// Either way it is in History. Errors: parley:identity_changed (their
// verified identity changed: the message, if stored, is held until
// AcceptIdentity), parley:unknown_user, parley:invalid (empty or too
// long text).
func (m *Client) Send(user, text string, timeoutMs int64) (*Sent, error) {
	return m.send(timeoutMs, func(ctx context.Context, c *client.Client) (client.MessageID, error) {
		return c.Send(ctx, user, text)
	})
}

// SendFile sends the file at path to user, encrypted on the device, with
// a MIME type such as "image/jpeg" ("" for none) and a caption ("" for
// none). The file is copied into the vault first, so the app may delete
// it afterwards; an interrupted upload resumes by itself like a queued
// message. Results and errors as Send's, plus parley:too_large and
// parley:quota.
func (m *Client) SendFile(user, path, contentType, caption string, timeoutMs int64) (*Sent, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, invalid("SendFile: " + err.Error())
	}
	defer f.Close()
	opt := client.FileOptions{Name: baseName(path), ContentType: contentType, Caption: caption}
	return m.send(timeoutMs, func(ctx context.Context, c *client.Client) (client.MessageID, error) {
		return c.SendFileFrom(ctx, user, f, opt)
	})
}

func baseName(path string) string { return path[strings.LastIndexAny(path, `/\`)+1:] }

// SendMany writes each of texts to user, in order, as Send would one
// after the other, but as one burst: the vault stores them all in one
// commit and one connection carries them, which is much cheaper than a
// Send per text. Entry i of the result is texts' i-th outcome: Status
// "sent", "queued" (as Send's: it goes out by itself), "held" (their
// verified identity changed: held until AcceptIdentity) or "failed",
// with the reason in Reason. The error is for the whole call, and then
// nothing was stored: parley:invalid (no texts, more than 4,096, or one
// empty or too long), parley:identity_changed when the change was known
// before, parley:unknown_user.
func (m *Client) SendMany(user string, texts *StringList, timeoutMs int64) (*SentList, error) {
	var res []client.SendResult
	err := m.do(timeoutMs, func(ctx context.Context, c *client.Client) (err error) {
		res, err = c.SendMany(ctx, user, texts.slice())
		return err
	})
	if err != nil {
		return nil, err
	}
	out := &SentList{items: make([]*Sent, len(res))}
	for i, r := range res {
		out.items[i] = sentOf(r)
	}
	return out, nil
}

// sentOf turns one of SendMany's outcomes into a Sent.
func sentOf(r client.SendResult) *Sent {
	s := &Sent{ID: r.ID.String(), Status: "sent"}
	switch {
	case r.Err == nil:
		return s
	case errors.Is(r.Err, client.ErrQueued):
		s.Status = "queued"
	case errors.Is(r.Err, client.ErrIdentityChanged):
		s.Status = "held"
	default:
		s.Status = "failed"
	}
	s.Reason = wrap(r.Err).Error()
	return s
}

// send runs one send and tells a queued message from a failure.
func (m *Client) send(timeoutMs int64, f func(context.Context, *client.Client) (client.MessageID, error)) (*Sent, error) {
	var id client.MessageID
	err := m.do(timeoutMs, func(ctx context.Context, c *client.Client) (err error) {
		id, err = f(ctx, c)
		return err
	})
	switch {
	case err == nil:
		return &Sent{ID: id.String(), Status: "sent"}, nil
	case errors.Is(err, client.ErrQueued) && id != (client.MessageID{}):
		return &Sent{ID: id.String(), Status: "queued", Reason: err.Error()}, nil
	}
	return nil, err
}

// SaveFile writes the plaintext of message id's file to path (in the
// app's cache, say), downloading it into the vault first if needed.
func (m *Client) SaveFile(messageID, path string, timeoutMs int64) error {
	id, err := client.ParseMessageID(messageID)
	if err != nil {
		return wrap(err)
	}
	return m.do(timeoutMs, func(ctx context.Context, c *client.Client) error {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return errors.Join(client.ErrInvalid, err)
		}
		if err := c.SaveAttachment(ctx, id, f, nil); err != nil {
			f.Close()
			os.Remove(path)
			return err
		}
		return f.Close()
	})
}

// History returns a page of the conversation with user, oldest first:
// the limit messages stored before the message whose ID is before ("",
// the newest). Page backwards with the page's Next until it is "".
// It reads the vault only.
func (m *Client) History(user, before string, limit int32) (*MessagePage, error) {
	var list []client.Message
	err := m.do(0, func(ctx context.Context, c *client.Client) (err error) {
		list, err = c.History(ctx, user)
		return err
	})
	if err != nil {
		return nil, err
	}
	return page(list, before, limit)
}

// page cuts the limit messages before the cursor out of a history.
func page(list []client.Message, before string, limit int32) (*MessagePage, error) {
	if limit <= 0 {
		return nil, invalid("History: limit must be positive")
	}
	end := len(list)
	if before != "" {
		id, err := client.ParseMessageID(before)
		if err != nil {
			return nil, wrap(err)
		}
		end = -1
		for i := range list {
			if list[i].ID == id {
				end = i
				break
			}
		}
		if end < 0 {
			return nil, invalid("History: the cursor names no message of this history")
		}
	}
	start := max(0, end-int(limit))
	p := &MessagePage{}
	for i := start; i < end; i++ {
		p.items = append(p.items, newMessage(&list[i]))
	}
	if start > 0 {
		p.Next = list[start].ID.String()
	}
	return p, nil
}
