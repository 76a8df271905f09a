package mobile

import (
	"time"

	"parley.dev/client"
)

// gobind passes no slices but []byte, so lists are objects with Size and
// Get, and lists the app passes in are a StringList it fills.

// StringList is a list of strings the app fills (user names for groups).
type StringList struct{ items []string }

// NewStringList returns an empty list.
func NewStringList() *StringList { return &StringList{} }

// Add appends s.
func (l *StringList) Add(s string) { l.items = append(l.items, s) }

// Size returns how many strings the list holds.
func (l *StringList) Size() int32 { return int32(len(l.items)) }

// Get returns the i-th string, or "" out of range.
func (l *StringList) Get(i int32) string {
	if i < 0 || int(i) >= len(l.items) {
		return ""
	}
	return l.items[i]
}

func (l *StringList) slice() []string {
	if l == nil {
		return nil
	}
	return l.items
}

// Message is one message of a conversation or a group.
type Message struct {
	// ID identifies the message on every device (32 hex digits).
	ID string
	// Contact is the other user of the conversation; in a group, the
	// sender (this user for outgoing messages).
	Contact string
	// Outgoing is true for messages this user sent, from any device.
	Outgoing bool
	Text     string
	// SentMs is the sender's clock, ReceivedMs this device's when it
	// stored the message, in milliseconds since 1970 (UTC).
	SentMs, ReceivedMs int64
	// Status is "received", "queued", "held", "sent", "expired",
	// "failed" or "uploading".
	Status string
	// NewIdentity marks a message sent under an identity not accepted
	// yet: treat it with suspicion until safety numbers are compared.
	NewIdentity bool
	// GroupID and GroupName name the group ("" for a conversation).
	GroupID, GroupName string
	// HasFile: the message carries a file, described by the File fields
	// (Text is then its caption). FileSaved: it is in the vault
	// (SaveFile needs no relay).
	HasFile               bool
	FileName, FileType    string
	FileSize              int64
	FileWidth, FileHeight int32
	FileDurationMs        int64
	FileSaved             bool
	// ExpiresMs is when the disappearing timer deletes the message from
	// every device, in milliseconds since 1970 (0: kept).
	ExpiresMs int64
}

func newMessage(m *client.Message) *Message {
	if m == nil {
		return nil
	}
	out := &Message{
		ID:          m.ID.String(),
		Contact:     m.Contact,
		Outgoing:    m.Outgoing,
		Text:        m.Text,
		SentMs:      millis(m.Sent),
		ReceivedMs:  millis(m.Received),
		Status:      m.Status.String(),
		NewIdentity: m.NewIdentity,
		GroupName:   m.GroupName,
		ExpiresMs:   millis(m.Expires),
	}
	if !m.Group.IsZero() {
		out.GroupID = m.Group.String()
	}
	if a := m.Attachment; a != nil {
		out.HasFile, out.FileName, out.FileType, out.FileSize = true, a.Name, a.ContentType, a.Size
		out.FileWidth, out.FileHeight, out.FileDurationMs = int32(a.Width), int32(a.Height), a.Duration.Milliseconds()
		out.FileSaved = a.Saved
	}
	return out
}

func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// MessagePage is one page of a history, oldest first.
type MessagePage struct {
	items []*Message
	// Next is the cursor of the page before this one (older messages):
	// pass it as History's before. "" when this page is the oldest.
	Next string
}

// Size returns how many messages the page holds.
func (p *MessagePage) Size() int32 { return int32(len(p.items)) }

// Get returns the i-th message (0 is the oldest of the page), or nil.
func (p *MessagePage) Get(i int32) *Message {
	if i < 0 || int(i) >= len(p.items) {
		return nil
	}
	return p.items[i]
}

// Contact is a user this device has exchanged messages with.
type Contact struct {
	User string
	// Verified: safety numbers were compared (Verify).
	Verified bool
	// Held: their identity changed after it was verified; sending is
	// held until AcceptIdentity or Verify of the new number.
	Held bool
}

// ContactList is the list Contacts returns, sorted by name.
type ContactList struct{ items []*Contact }

// Size returns how many contacts the list holds.
func (l *ContactList) Size() int32 { return int32(len(l.items)) }

// Get returns the i-th contact, or nil.
func (l *ContactList) Get(i int32) *Contact {
	if i < 0 || int(i) >= len(l.items) {
		return nil
	}
	return l.items[i]
}

// Device is one device of this user.
type Device struct {
	User string
	// ID is the device number (for RevokeDevice).
	ID int64
	// This is true for the device this Client runs on.
	This bool
}

// DeviceList is the list Devices returns.
type DeviceList struct{ items []*Device }

// Size returns how many devices the list holds.
func (l *DeviceList) Size() int32 { return int32(len(l.items)) }

// Get returns the i-th device, or nil.
func (l *DeviceList) Get(i int32) *Device {
	if i < 0 || int(i) >= len(l.items) {
		return nil
	}
	return l.items[i]
}

// SafetyNumber is what two users compare to know that no one is in the
// middle.
type SafetyNumber struct {
	// Digits are the 60 digits; Grouped the same in 12 groups of 5, to
	// show.
	Digits, Grouped string
	// QR is this side's payload to show as a QR code; the other user
	// scans it and passes it to VerifyQR.
	QR []byte
}

// Sent is where a message stands after Send.
type Sent struct {
	// ID identifies the message (32 hex digits).
	ID string
	// Status is "sent" (the relay stored it for every device of the
	// recipient) or "queued" (the relay could not be reached, or refused
	// it for now: it waits in the encrypted outbox and goes out by
	// itself on the next Start, Wake or Send; do not send it again).
	// Listener.OnDelivery reports when a queued message goes out.
	// SendMany's outcomes may also be "held" (the recipient's verified
	// identity changed: held until AcceptIdentity) or "failed".
	Status string
	// Reason is why a message waits or failed, an error message such as
	// "parley:queued: ...: relay unreachable"; "" when sent.
	Reason string
}

// SentList is SendMany's outcomes, one per text, in order.
type SentList struct{ items []*Sent }

// Size returns how many outcomes the list holds.
func (l *SentList) Size() int32 { return int32(len(l.items)) }

// Get returns the i-th outcome, or nil out of range.
func (l *SentList) Get(i int32) *Sent {
	if i < 0 || int(i) >= len(l.items) {
		return nil
	}
	return l.items[i]
}

// Group is this device's view of a group.
type Group struct {
	ID, Name string
	// Epoch counts the changes since the group was created.
	Epoch int64
	// Members are the members' user names; Admins those who are admins.
	Members, Admins *StringList
	// Joined: this user is a member (false once it left or was removed).
	// Admin: this user is an admin.
	Joined, Admin bool
}

func newGroup(g client.Group) *Group {
	out := &Group{ID: g.ID.String(), Name: g.Name, Epoch: int64(g.Epoch),
		Members: NewStringList(), Admins: NewStringList(), Joined: g.Joined, Admin: g.Admin}
	for _, mb := range g.Members {
		out.Members.Add(mb.User)
		if mb.Admin {
			out.Admins.Add(mb.User)
		}
	}
	return out
}

// GroupList is the list Groups returns, by name.
type GroupList struct{ items []*Group }

// Size returns how many groups the list holds.
func (l *GroupList) Size() int32 { return int32(len(l.items)) }

// Get returns the i-th group, or nil.
func (l *GroupList) Get(i int32) *Group {
	if i < 0 || int(i) >= len(l.items) {
		return nil
	}
	return l.items[i]
}

// GroupChange describes a change to a group (Listener.OnGroupChanged).
type GroupChange struct {
	GroupID, Name string
	// Kind is "create", "add", "remove", "leave", "promote", "demote" or
	// "rename".
	Kind string
	// By signed the change; Users are whom it concerns.
	By    string
	Users *StringList
	Epoch int64
	// TimeMs is the signer's clock, in milliseconds since 1970.
	TimeMs int64
}

func newGroupChange(g *client.GroupChange) *GroupChange {
	if g == nil {
		return nil
	}
	return &GroupChange{GroupID: g.Group.String(), Name: g.Name, Kind: g.Kind, By: g.By,
		Users: &StringList{items: g.Users}, Epoch: int64(g.Epoch), TimeMs: millis(g.Time)}
}
