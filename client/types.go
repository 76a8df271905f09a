package client

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"parley.dev/internal/addr"
)

// Address is one device of one user, written "user/device".
type Address struct {
	User   string
	Device uint32
}

func (a Address) String() string { return a.User + "/" + strconv.FormatUint(uint64(a.Device), 10) }

func publicAddress(a addr.Address) Address {
	return Address{User: string(a.User), Device: uint32(a.Device)}
}

// MessageID identifies one message on every device that has it.
type MessageID [16]byte

var _ = addr.MessageID(MessageID{}) // the same size as the protocol's

// String returns the ID as 32 hex digits.
func (id MessageID) String() string { return hex.EncodeToString(id[:]) }

// ParseMessageID reads the form String writes.
func ParseMessageID(s string) (MessageID, error) {
	id, err := addr.ParseMessageID(s)
	if err != nil {
		return MessageID{}, fmt.Errorf("%w: message ID %q", ErrInvalid, s)
	}
	return MessageID(id), nil
}

// Status is where a message stands.
type Status uint8

const (
	// StatusReceived: an incoming message.
	StatusReceived Status = iota + 1
	// StatusQueued: an outgoing message waiting in the encrypted outbox
	// for the relay (it goes out on the next Send, Sync or Listen).
	StatusQueued
	// StatusHeld: an outgoing message held because the recipient's
	// verified identity changed; it goes out after AcceptIdentity.
	StatusHeld
	// StatusSent: the relay stored a copy for every device of the
	// recipient.
	StatusSent
	// StatusExpired: a device of the recipient did not fetch its copy
	// before the relay's time limit (30 days by default).
	StatusExpired
	// StatusFailed: the message cannot be sent (the user does not exist
	// or has no device, or the relay refused it). In an EventError for an
	// incoming message (ErrUndecryptable): it could not be decrypted.
	StatusFailed
	// StatusUploading: an outgoing attachment whose file is still going
	// to the relay; the message follows once it is there.
	StatusUploading
)

var statusNames = [...]string{"", "received", "queued", "held", "sent", "expired", "failed", "uploading"}

func (s Status) String() string {
	if int(s) < len(statusNames) && s != 0 {
		return statusNames[s]
	}
	return "status-" + strconv.Itoa(int(s))
}

// Message is one message of a conversation.
type Message struct {
	ID MessageID
	// Contact is the other user of the conversation.
	Contact string
	// Outgoing is true for messages this user sent (from this device or
	// another of theirs).
	Outgoing bool
	Text     string
	// Sent is the sender's clock when it was written; Received is this
	// device's clock when it was stored (sent or received).
	Sent, Received time.Time
	Status         Status
	// NewIdentity marks an incoming message sent under an identity you
	// have not accepted: the contact was verified and their identity
	// changed. Treat it with suspicion until you compare safety numbers.
	NewIdentity bool
	// Attachment describes the file this message carries, if any (Text
	// is then its caption).
	Attachment *Attachment
	// Group is the group the message was sent to; zero for a message of
	// a conversation. In a group, Contact is the sender (this user for
	// outgoing messages), and GroupName the group's name when the message
	// was stored or reported.
	Group     GroupID
	GroupName string
	// Expires is when the conversation's disappearing timer deletes the
	// message from every device; zero when it is kept.
	Expires time.Time
}

// Contact is a user this device has exchanged messages with.
type Contact struct {
	User string
	// Verified: you compared safety numbers (Verify).
	Verified bool
	// Held: their identity changed after you verified it; sending is held
	// until AcceptIdentity or Verify of the new number.
	Held bool
}

// IdentityChange reports that a contact's identity key changed: they
// reinstalled, or someone (such as a malicious relay) is in the middle.
type IdentityChange struct {
	User string
	// Held is true when the contact was verified: sending is held until
	// you compare the new safety number and accept it. When false, the
	// new identity was accepted (trust on first use, as before).
	Held bool
}

// EventKind says what an Event reports.
type EventKind uint8

const (
	// EventMessage: Message is a new message (incoming, or sent from
	// another of your devices).
	EventMessage EventKind = iota + 1
	// EventSent: Message was waiting in the outbox and the relay has now
	// stored it for every device.
	EventSent
	// EventExpired: Message expired before a device of the recipient
	// fetched it.
	EventExpired
	// EventIdentityChanged: Identity says whose identity changed.
	EventIdentityChanged
	// EventSynced: every message queued at the relay has been received;
	// live ones follow (Listen only, once per connection; Sync returns at
	// that point).
	EventSynced
	// EventError: Err says what failed without stopping Listen: a message
	// that could not be decrypted and was dropped, a message that could
	// not be sent yet, an attachment that could not be sent or
	// downloaded (Message names it), or a lost connection (Listen
	// reconnects).
	EventError
	// EventDownloaded: Message's attachment, of at most
	// Client.AutoDownload bytes, was downloaded by itself and is in the
	// vault (Attachment.Saved): OpenAttachment reads it.
	EventDownloaded
	// EventGroupChanged: Group says how a group's membership or name
	// changed (this device joined, someone was added, removed, left ...).
	EventGroupChanged
	// EventGroupRefused: a change to a group was refused (Err says why:
	// not signed by an admin, a fork or rollback of the group's history,
	// or it lost to a concurrent change); Group describes it when known.
	EventGroupRefused
	// EventTimer: Timer says how a conversation's disappearing timer
	// changed (set by the contact, or by this user on another device).
	EventTimer
)

var eventNames = [...]string{"", "message", "sent", "expired", "identity-changed", "synced", "error",
	"downloaded", "group-changed", "group-refused", "timer"}

func (k EventKind) String() string {
	if int(k) < len(eventNames) && k != 0 {
		return eventNames[k]
	}
	return "event-" + strconv.Itoa(int(k))
}

// Event is something Sync or Listen reports.
type Event struct {
	Kind     EventKind
	Message  *Message        // EventMessage, EventSent, EventExpired, EventDownloaded; EventError when a message failed
	Identity *IdentityChange // EventIdentityChanged
	Err      error           // EventError, EventGroupRefused
	Group    *GroupChange    // EventGroupChanged, EventGroupRefused
	Timer    *TimerChange    // EventTimer
}

// SafetyNumber is what two users compare to check that no one is in the
// middle: 60 digits read aloud, or a QR code scanned.
type SafetyNumber struct {
	// Digits are the 60 digits without spaces.
	Digits string
	// QR is this side's payload to show as a QR code: the other user
	// scans it with VerifyQR. It differs from theirs, and VerifyQR with
	// one's own payload fails.
	QR []byte
}

// String returns the digits in 12 groups of 5.
func (n SafetyNumber) String() string {
	var b []byte
	for i := 0; i < len(n.Digits); i += 5 {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, n.Digits[i:min(i+5, len(n.Digits))]...)
	}
	return string(b)
}
