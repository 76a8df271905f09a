package content

import (
	"fmt"
	"time"
)

// Disappearing messages (kinds 0x30-0x37; docs/protocol.md, "Disappearing
// messages"). A participant sets a conversation's timer with a timer
// message; every message sent under a timer carries it, so that each end
// deletes it Timer after Sent, and a device that receives it later never
// shows it. The timer is a u32 of seconds placed after the recipient
// (transcript kinds) or after the sent time (others):
//
//	0x30 timer change: u32 timer (0: off) | empty text
//	0x31 timer change transcript: u8-prefixed recipient | u32 timer | empty text
//	0x32-0x35: kinds 0x01, 0x02, 0x20, 0x21 with a timer (u32, not 0)
//
// A Message names the base kind (KindText ...) and sets Timer; Marshal
// and Parse map it to and from the timed kinds.
const (
	// KindTimer sets the conversation's timer (Timer; 0 turns it off).
	KindTimer Kind = 0x30
	// KindTimerTranscript tells the sender's other devices of a timer it
	// set; To names the conversation.
	KindTimerTranscript Kind = 0x31

	kindTimedText                 Kind = 0x32
	kindTimedTranscript           Kind = 0x33
	kindTimedAttachment           Kind = 0x34
	kindTimedAttachmentTranscript Kind = 0x35
)

// MaxTimer is the longest disappearing timer.
const MaxTimer = 365 * 24 * time.Hour

// timedKinds maps each base kind that may carry a timer to its timed kind.
var timedKinds = map[Kind]Kind{
	KindText: kindTimedText, KindTranscript: kindTimedTranscript,
	KindAttachment: kindTimedAttachment, KindAttachmentTranscript: kindTimedAttachmentTranscript,
}

// isTimer reports whether k is a timer change.
func (k Kind) isTimer() bool { return k == KindTimer || k == KindTimerTranscript }

// wireKind is the kind byte m is encoded with.
func (m *Message) wireKind() Kind {
	if t, ok := timedKinds[m.Kind]; ok && m.Timer > 0 {
		return t
	}
	return m.Kind
}

// baseKind maps a kind byte to the Message's kind, and reports whether it
// carries a timer field and whether that timer must be nonzero.
func baseKind(b uint8) (k Kind, hasTimer, nonzero bool) {
	k = Kind(b)
	if k.isTimer() {
		return k, true, false
	}
	for base, timed := range timedKinds {
		if timed == k {
			return base, true, true
		}
	}
	return k, false, false
}

// hasTimerField reports whether m's encoding carries a timer.
func (m *Message) hasTimerField() bool { return m.Kind.isTimer() || m.wireKind() != m.Kind }

func (m *Message) checkTimer() error {
	switch {
	case m.Timer < 0 || m.Timer > MaxTimer || m.Timer%time.Second != 0:
		return fmt.Errorf("%w: timer %v", ErrMalformed, m.Timer)
	case m.Timer != 0 && m.Kind.isGroup():
		return fmt.Errorf("%w: a timer on a group message", ErrMalformed)
	case m.Kind.isTimer() && (m.Text != "" || m.Attachment != nil || len(m.Body) > 0):
		return fmt.Errorf("%w: a timer change with content", ErrMalformed)
	}
	return nil
}
