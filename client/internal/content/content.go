// Package content is the client message carried inside an end-to-end
// encrypted session: what the user wrote, with the ID and time that let
// every device of both users file it once and in order.
//
// The relay never sees these bytes; it moves the session message that
// seals them. Layout (version 1, big-endian; docs/protocol.md, "Client
// messages"):
//
//	u8  version (1)
//	u8  kind: 0x01 text, 0x02 sent transcript, 0x20 attachment,
//	    0x21 sent attachment transcript
//	16  message ID (never all zero)
//	u64 sent time, Unix milliseconds (at most 2^63-1)
//	kinds 0x02 and 0x21 only: u8-prefixed recipient user ID
//	u24-prefixed text: valid UTF-8, at most MaxTextLen bytes
//	kinds 0x20 and 0x21 only: the attachment (see Attachment)
//
// A text goes to every device of the recipient. A sent transcript goes to
// the sender's own other devices, so that they show what this device sent;
// it names the recipient, which the session does not.
//
// Parse accepts exactly what Marshal produces (one encoding per value) and
// refuses trailing bytes. Values are plain; safe for concurrent use.
package content

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"

	"parley.dev/internal/addr"
)

// Version is the first byte of every client message.
const Version = 1

// MaxTextLen is the longest text in bytes. Padded and sealed, a message
// of this size stays far below the session's plaintext limit.
const MaxTextLen = 64 << 10

// maxMillis is the largest time a message may carry (u64 kept within
// int64).
const maxMillis = 1<<63 - 1

// Kind says what a client message carries.
type Kind uint8

// Kinds. Numbers are part of the format; never reuse one.
const (
	// KindText is a text to the recipient's devices.
	KindText Kind = 0x01
	// KindTranscript is a copy of a text, sent to the sender's own other
	// devices; To names the recipient.
	KindTranscript Kind = 0x02
	// KindAttachment is a file to the recipient's devices: Attachment
	// says where its ciphertext is and how to open it; Text is a caption.
	KindAttachment Kind = 0x20
	// KindAttachmentTranscript is a copy of an attachment message for the
	// sender's own other devices; To names the recipient.
	KindAttachmentTranscript Kind = 0x21
)

// ErrMalformed is wrapped by every Parse and Marshal error.
var ErrMalformed = errors.New("content: malformed message")

// Message is one client message.
type Message struct {
	Kind Kind
	ID   addr.MessageID
	Sent time.Time   // the sender's clock, to the millisecond
	To   addr.UserID // transcript kinds only: the recipient
	Text string
	// Attachment is set exactly for the attachment kinds.
	Attachment *Attachment
	Body       []byte // group control kinds only (see group.go)
	// Timer is the disappearing timer, whole seconds: the conversation's
	// new timer for the timer kinds, and for the others the time after
	// Sent at which every end deletes the message (0: kept). See timer.go.
	Timer time.Duration
}

// transcript reports whether k names a recipient.
func (k Kind) transcript() bool {
	return k == KindTranscript || k == KindAttachmentTranscript || k == KindTimerTranscript
}

// attachment reports whether k carries an Attachment.
func (k Kind) attachment() bool { return k == KindAttachment || k == KindAttachmentTranscript }

// Marshal encodes m, refusing a value Parse would refuse.
func Marshal(m *Message) ([]byte, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	var b cryptobyte.Builder
	b.AddUint8(Version)
	b.AddUint8(uint8(m.wireKind()))
	b.AddBytes(m.ID[:])
	b.AddUint64(uint64(m.Sent.UnixMilli()))
	if m.Kind.transcript() {
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(m.To)) })
	}
	if m.hasTimerField() {
		b.AddUint32(uint32(m.Timer / time.Second))
	}
	if m.Kind.isGroupControl() {
		b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(m.Body) })
	} else {
		b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(m.Text)) })
	}
	if m.Kind.attachment() {
		m.Attachment.append(&b)
	}
	return b.Bytes()
}

func (m *Message) check() error {
	if err := m.checkTimer(); err != nil {
		return err
	}
	if m.Kind.isGroup() {
		return m.checkGroup()
	}
	switch {
	case m.Kind != KindText && !m.Kind.transcript() && !m.Kind.attachment() && m.Kind != KindTimer:
		return fmt.Errorf("%w: kind %d", ErrMalformed, m.Kind)
	case m.Kind.attachment() != (m.Attachment != nil):
		return fmt.Errorf("%w: attachment with kind %d", ErrMalformed, m.Kind)
	case m.ID.IsZero():
		return fmt.Errorf("%w: zero message ID", ErrMalformed)
	case m.Sent.UnixMilli() < 0:
		return fmt.Errorf("%w: time before 1970", ErrMalformed)
	case m.Kind.transcript() && !m.To.Valid():
		return fmt.Errorf("%w: transcript recipient", ErrMalformed)
	case !m.Kind.transcript() && m.To != "":
		return fmt.Errorf("%w: text names a recipient", ErrMalformed)
	case len(m.Body) > 0:
		return fmt.Errorf("%w: a body outside a group control", ErrMalformed)
	case len(m.Text) > MaxTextLen:
		return fmt.Errorf("%w: text of %d bytes above %d", ErrMalformed, len(m.Text), MaxTextLen)
	case !utf8.ValidString(m.Text):
		return fmt.Errorf("%w: text is not UTF-8", ErrMalformed)
	case m.Attachment != nil:
		return m.Attachment.check()
	}
	return nil
}

// Parse decodes a client message.
func Parse(b []byte) (*Message, error) {
	s := cryptobyte.String(b)
	var version, kind uint8
	var id []byte
	var ms uint64
	if !s.ReadUint8(&version) || !s.ReadUint8(&kind) {
		return nil, fmt.Errorf("%w: short", ErrMalformed)
	}
	if version != Version {
		return nil, fmt.Errorf("%w: version %d", ErrMalformed, version)
	}
	base, hasTimer, nonzero := baseKind(kind)
	m := &Message{Kind: base}
	if !s.ReadBytes(&id, addr.MessageIDLen) || !s.ReadUint64(&ms) || ms > maxMillis {
		return nil, fmt.Errorf("%w: header", ErrMalformed)
	}
	copy(m.ID[:], id)
	m.Sent = time.UnixMilli(int64(ms))
	if m.Kind.transcript() {
		var to cryptobyte.String
		if !s.ReadUint8LengthPrefixed(&to) {
			return nil, fmt.Errorf("%w: recipient", ErrMalformed)
		}
		m.To = addr.UserID(to)
	}
	if hasTimer {
		var secs uint32
		if !s.ReadUint32(&secs) || nonzero && secs == 0 {
			return nil, fmt.Errorf("%w: timer", ErrMalformed)
		}
		m.Timer = time.Duration(secs) * time.Second
	}
	var text cryptobyte.String
	if !s.ReadUint24LengthPrefixed(&text) {
		return nil, fmt.Errorf("%w: text", ErrMalformed)
	}
	if m.Kind.isGroupControl() {
		m.Body = []byte(text)
	} else {
		m.Text = string(text)
	}
	if m.Kind.attachment() {
		m.Attachment = new(Attachment)
		if !m.Attachment.parse(&s) {
			return nil, fmt.Errorf("%w: attachment", ErrMalformed)
		}
	}
	if !s.Empty() {
		return nil, fmt.Errorf("%w: trailing bytes", ErrMalformed)
	}
	if err := m.check(); err != nil {
		return nil, err
	}
	return m, nil
}
