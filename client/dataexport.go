package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"

	"parley.dev/internal/private"
)

// ExportFormat names the layout Export writes.
const ExportFormat = "parley-export/1"

// Export writes what this device holds of the user's data, for the user
// (a data subject's copy): the account's address, the contacts, every
// conversation's history and every group with its members and history,
// as one JSON document (ExportFormat). Attachments appear as their
// descriptions; SaveAttachment writes their bytes. No key, session or
// secret is in it. It reads the vault only. The document is the user's
// plaintext: the caller keeps it as carefully as the vault.
func (c *Client) Export(ctx context.Context, w io.Writer) error {
	_, a, err := c.registered()
	if err != nil {
		return err
	}
	doc := exportDoc{Format: ExportFormat, Exported: c.clock(), Account: exportAccount(publicAddress(a.self()))}
	contacts, err := c.Contacts(ctx)
	if err != nil {
		return err
	}
	for _, ct := range contacts {
		conv, err := c.exportConversation(ctx, ct)
		if err != nil {
			return err
		}
		doc.Conversations = append(doc.Conversations, conv)
	}
	if doc.Groups, err = c.exportGroups(ctx); err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// ExportFile writes Export's document to a new file at path, mode 0600;
// an existing file (or a symbolic link) is not overwritten, and a failed
// export leaves no file.
func (c *Client) ExportFile(ctx context.Context, path string) error {
	if _, _, err := c.registered(); err != nil {
		return err
	}
	err := private.CreateNewFrom(path, func(w io.Writer) error { return c.Export(ctx, w) })
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%w: %s exists (an export never overwrites a file)", ErrInvalid, path)
	}
	return err
}

func (c *Client) exportConversation(ctx context.Context, ct Contact) (exportConversation, error) {
	out := exportConversation{Contact: ct.User, Verified: ct.Verified, Messages: []exportMessage{}}
	timer, err := c.Timer(ctx, ct.User)
	if err != nil {
		return out, err
	}
	out.TimerSeconds = int64(timer / time.Second)
	hist, err := c.History(ctx, ct.User)
	if err != nil {
		return out, err
	}
	for _, m := range hist {
		out.Messages = append(out.Messages, exportMessageOf(m))
	}
	return out, nil
}

func (c *Client) exportGroups(ctx context.Context) ([]exportGroup, error) {
	groups, err := c.Groups(ctx)
	if err != nil {
		return nil, err
	}
	out := []exportGroup{}
	for _, g := range groups {
		eg := exportGroup{ID: g.ID.String(), Name: g.Name, Joined: g.Joined, Entries: []exportGroupEntry{}}
		for _, m := range g.Members {
			eg.Members = append(eg.Members, exportMember{User: m.User, Admin: m.Admin})
		}
		entries, err := c.GroupHistory(ctx, g.ID)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			var ee exportGroupEntry
			if e.Message != nil {
				m := exportMessageOf(*e.Message)
				ee.Message = &m
			}
			if ch := e.Change; ch != nil {
				ee.Change = &exportChange{Kind: ch.Kind, By: ch.By, Users: ch.Users, Name: ch.Name, Epoch: ch.Epoch, Time: ch.Time}
			}
			eg.Entries = append(eg.Entries, ee)
		}
		out = append(out, eg)
	}
	return out, nil
}

func exportMessageOf(m Message) exportMessage {
	return exportMessage{ID: m.ID.String(), From: m.Contact, Outgoing: m.Outgoing, Text: m.Text,
		Sent: m.Sent, Received: m.Received, Status: m.Status.String(), Attachment: m.Attachment, Expires: m.Expires}
}

type exportDoc struct {
	Format        string               `json:"format"`
	Exported      time.Time            `json:"exported"`
	Account       exportAccount        `json:"account"`
	Conversations []exportConversation `json:"conversations"`
	Groups        []exportGroup        `json:"groups"`
}

type exportAccount struct {
	User   string `json:"user"`
	Device uint32 `json:"device"`
}

type exportConversation struct {
	Contact      string          `json:"contact"`
	Verified     bool            `json:"verified"`
	TimerSeconds int64           `json:"timer_seconds,omitempty"`
	Messages     []exportMessage `json:"messages"`
}

type exportMessage struct {
	ID         string      `json:"id"`
	From       string      `json:"contact"`
	Outgoing   bool        `json:"outgoing"`
	Text       string      `json:"text,omitempty"`
	Sent       time.Time   `json:"sent"`
	Received   time.Time   `json:"received"`
	Status     string      `json:"status"`
	Attachment *Attachment `json:"attachment,omitempty"`
	Expires    time.Time   `json:"expires,omitzero"`
}

type exportGroup struct {
	ID      string             `json:"id"`
	Name    string             `json:"name"`
	Joined  bool               `json:"joined"`
	Members []exportMember     `json:"members"`
	Entries []exportGroupEntry `json:"entries"`
}

type exportMember struct {
	User  string `json:"user"`
	Admin bool   `json:"admin,omitempty"`
}

type exportGroupEntry struct {
	Message *exportMessage `json:"message,omitempty"`
	Change  *exportChange  `json:"change,omitempty"`
}

type exportChange struct {
	Kind  string    `json:"kind"`
	By    string    `json:"by"`
	Users []string  `json:"users,omitempty"`
	Name  string    `json:"name,omitempty"`
	Epoch uint64    `json:"epoch"`
	Time  time.Time `json:"time"`
}
