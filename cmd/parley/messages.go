package main

import (
	"fmt"
	"strings"
	"time"

	"parley.dev/client"
)

// timeLayout is how message times print: local time, to the minute.
const timeLayout = "2006-01-02 15:04"

// jsonMessage is a message in --json output.
type jsonMessage struct {
	Type   string    `json:"type"` // "message"
	ID     string    `json:"id"`
	From   string    `json:"from"`
	To     string    `json:"to"`
	Time   time.Time `json:"time"`
	Text   string    `json:"text"`
	Status string    `json:"status"`
	// File describes an attachment.
	File *client.Attachment `json:"file,omitempty"`
	// Saved: the file is on this device (parley save needs no relay).
	Saved bool   `json:"saved,omitempty"`
	Group string `json:"group,omitempty"` // a group message: the group's ID
	Name  string `json:"group_name,omitempty"`
}

// formatMessage is the text form of a message: "[time] sender: text".
func formatMessage(self string, m *client.Message) string {
	from := m.Contact
	if m.Outgoing {
		from = self
	}
	text := m.Text
	if m.Attachment != nil {
		text = strings.TrimSpace(attachmentNote(m.Attachment) + " " + text + " (id " + m.ID.String() + ")")
	}
	if !m.Group.IsZero() {
		from += " in " + m.GroupName
	}
	line := fmt.Sprintf("[%s] %s: %s", m.Sent.Local().Format(timeLayout), from, text)
	if m.Outgoing && m.Status != client.StatusSent {
		line += " (" + m.Status.String() + ")"
	}
	if m.NewIdentity {
		line += " (sent under a new, unverified identity)"
	}
	return line
}

// printMessage prints one message of the conversation between self and
// m.Contact.
func (c *cli) printMessage(self string, m *client.Message) error {
	j := jsonMessage{Type: "message", ID: m.ID.String(), From: m.Contact, To: self,
		Time: m.Sent, Text: m.Text, Status: m.Status.String(), File: m.Attachment}
	if m.Attachment != nil {
		j.Saved = m.Attachment.Saved
	}
	if m.Outgoing {
		j.From, j.To = self, m.Contact
	}
	if !m.Group.IsZero() {
		j.From, j.To, j.Group, j.Name = m.Contact, "", m.Group.String(), m.GroupName
	}
	return c.emit(j, formatMessage(self, m))
}

// printEvent prints what Sync or Listen reports: messages on standard
// output, the rest as notes on standard error.
func (c *cli) printEvent(self string, ev client.Event) error {
	switch ev.Kind {
	case client.EventMessage:
		return c.printMessage(self, ev.Message)
	case client.EventSent:
		if !ev.Message.Group.IsZero() {
			c.notef("sent a queued message to %s", ev.Message.GroupName)
			break
		}
		c.notef("sent a queued message to %s", ev.Message.Contact)
	case client.EventExpired:
		c.notef("warning: a message to %s expired on the relay before it was delivered", ev.Message.Contact)
	case client.EventIdentityChanged:
		c.noteIdentityChange(ev.Identity)
	case client.EventDownloaded:
		c.notef("downloaded the file of message %s from %s", ev.Message.ID, ev.Message.Contact)
	case client.EventError:
		c.notef("warning: %s", cleanMessage(ev.Err))
	case client.EventGroupChanged, client.EventGroupRefused:
		return c.printGroupEvent(self, ev)
	case client.EventTimer:
		c.noteTimer(ev.Timer)
	}
	return nil
}

func (c *cli) noteTimer(tc *client.TimerChange) {
	who := tc.Contact
	if tc.Outgoing {
		who = "you (on another device)"
	}
	if tc.Timer == 0 {
		c.notef("%s turned disappearing messages off in the conversation with %s", who, tc.Contact)
		return
	}
	c.notef("%s set disappearing messages to %s in the conversation with %s", who, formatTimer(tc.Timer), tc.Contact)
}

func (c *cli) noteIdentityChange(ic *client.IdentityChange) {
	u := ic.User
	if !ic.Held {
		c.notef("note: %s's identity changed (a new phone, or someone in the middle)", u)
		c.notef("hint: compare safety numbers with %s: parley safety %s", u, u)
		return
	}
	c.notef("warning: %s's verified identity changed: sending to %s is held", u, u)
	c.notef("hint: compare safety numbers with %s: parley safety %s", u, u)
	c.notef("hint: if they match, accept the new identity: parley accept %s", u)
}
