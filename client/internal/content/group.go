package content

import (
	"fmt"
	"unicode/utf8"
)

// Group kinds (0x10-0x1F belong to groups; docs/protocol.md, "Client
// messages"). The first three are control messages that travel in
// pairwise sessions and carry an internal/group encoding as their body (a
// u24-prefixed byte string where a text would be); the last is the
// plaintext of a group message, sealed with a sender key.
const (
	// KindGroupChange carries a signed membership change.
	KindGroupChange Kind = 0x10
	// KindGroupWelcome carries a welcome: the change that added the
	// recipient's user and the state it applies to.
	KindGroupWelcome Kind = 0x11
	// KindGroupKey carries a sender-key distribution. It is secret.
	KindGroupKey Kind = 0x12
	// KindGroupText is a text to a group, inside a group message.
	KindGroupText Kind = 0x13
)

// MaxBodyLen is the longest body of a group control. A welcome into a
// group of 1,000 members is about 200 KB at most.
const MaxBodyLen = 224 << 10

func (k Kind) isGroup() bool { return k >= KindGroupChange && k <= KindGroupText }

func (k Kind) isGroupControl() bool { return k >= KindGroupChange && k <= KindGroupKey }

// IsGroupControl reports whether k is a group control kind, whose Body
// carries an internal/group encoding.
func (k Kind) IsGroupControl() bool { return k.isGroupControl() }

func (m *Message) checkGroup() error {
	switch {
	case m.ID.IsZero():
		return fmt.Errorf("%w: zero message ID", ErrMalformed)
	case m.Sent.UnixMilli() < 0:
		return fmt.Errorf("%w: time before 1970", ErrMalformed)
	case m.To != "":
		return fmt.Errorf("%w: a group kind names a recipient", ErrMalformed)
	case m.Attachment != nil:
		return fmt.Errorf("%w: a group kind carries no attachment", ErrMalformed)
	case m.Kind.isGroupControl() && (len(m.Body) == 0 || len(m.Body) > MaxBodyLen || m.Text != ""):
		return fmt.Errorf("%w: a group control carries a body of 1 to %d bytes", ErrMalformed, MaxBodyLen)
	case m.Kind == KindGroupText && len(m.Body) > 0:
		return fmt.Errorf("%w: a group text has no body", ErrMalformed)
	case m.Kind == KindGroupText && (len(m.Text) > MaxTextLen || !utf8.ValidString(m.Text)):
		return fmt.Errorf("%w: group text", ErrMalformed)
	}
	return nil
}
