package wire

import (
	"time"

	"golang.org/x/crypto/cryptobyte"

	"parley.dev/internal/addr"
)

// Welcome is the relay's first WebSocket frame (TypeWelcome): who the
// connection is authenticated as and the limits it enforces.
type Welcome struct {
	Address     addr.Address
	MaxEnvelope uint32 // largest payload the relay accepts
	Window      uint16 // most deliveries sent before the client acks them
	MaxInFlight uint16 // most Submits answered concurrently; more wait
	// QuietAcks says the relay takes quiet Acks (TypeAckQuiet). It is
	// bit 0 of an optional trailing flags byte, sent only when set, so a
	// Welcome without it is the original layout; the other bits are
	// reserved and must be 0.
	QuietAcks bool
}

// Type returns TypeWelcome.
func (*Welcome) Type() Type { return TypeWelcome }

func (w *Welcome) appendBody(b *cryptobyte.Builder) {
	addAddress(b, w.Address)
	b.AddUint32(w.MaxEnvelope)
	b.AddUint16(w.Window)
	b.AddUint16(w.MaxInFlight)
	if w.QuietAcks {
		b.AddUint8(welcomeQuietAcks)
	}
}

// welcomeQuietAcks is the Welcome flag bit of QuietAcks.
const welcomeQuietAcks = 1

func (w *Welcome) parseBody(s *cryptobyte.String) error {
	if !readAddress(s, &w.Address, false) || !s.ReadUint32(&w.MaxEnvelope) ||
		!s.ReadUint16(&w.Window) || !s.ReadUint16(&w.MaxInFlight) {
		return malformed("welcome")
	}
	var flags uint8
	if !s.Empty() && (!s.ReadUint8(&flags) || flags != welcomeQuietAcks) {
		return malformed("welcome: flags")
	}
	w.QuietAcks = flags&welcomeQuietAcks != 0
	return nil
}

// Submit queues one envelope for a device (TypeSubmit). Resubmitting the
// same ID to the same device is harmless: the relay stores it once.
type Submit struct {
	To      addr.Address
	ID      addr.MessageID
	Payload []byte
	// TTL, if not zero, is how long the envelope may wait, in seconds: a
	// disappearing message's timer. The relay keeps it for the lesser of
	// TTL and its mailbox TTL. It is sent as an optional trailing u32
	// (never 0), so a Submit without one is the original layout.
	TTL uint32
}

// Type returns TypeSubmit.
func (*Submit) Type() Type { return TypeSubmit }

func (m *Submit) appendBody(b *cryptobyte.Builder) {
	addAddress(b, m.To)
	b.AddBytes(m.ID[:])
	addPayload(b, m.Payload)
	if m.TTL != 0 {
		b.AddUint32(m.TTL)
	}
}

func (m *Submit) parseBody(s *cryptobyte.String) error {
	if !readAddress(s, &m.To, false) || !readMessageID(s, &m.ID) {
		return malformed("submit")
	}
	if err := readPayload(s, &m.Payload, "submit"); err != nil {
		return err
	}
	m.TTL = 0
	if !s.Empty() && (!s.ReadUint32(&m.TTL) || m.TTL == 0) {
		return malformed("submit: ttl")
	}
	return nil
}

// SubmitResult answers one Submit (TypeSubmitResult). Code is CodeOK when
// the envelope is durably stored (Duplicate: it already was); otherwise it
// says why not, for example CodeMailboxFull or CodeUnknownDevice.
type SubmitResult struct {
	To        addr.Address
	ID        addr.MessageID
	Code      Code
	Duplicate bool
}

// Type returns TypeSubmitResult.
func (*SubmitResult) Type() Type { return TypeSubmitResult }

// Err returns nil for CodeOK and an *Error otherwise.
func (r *SubmitResult) Err() error {
	if r.Code == CodeOK {
		return nil
	}
	return &Error{Code: r.Code, Detail: "submit to " + r.To.String()}
}

func (r *SubmitResult) appendBody(b *cryptobyte.Builder) {
	addAddress(b, r.To)
	b.AddBytes(r.ID[:])
	b.AddUint16(uint16(r.Code))
	addBool(b, r.Duplicate)
}

func (r *SubmitResult) parseBody(s *cryptobyte.String) error {
	var code uint16
	if !readAddress(s, &r.To, false) || !readMessageID(s, &r.ID) || !s.ReadUint16(&code) || !readBool(s, &r.Duplicate) {
		return malformed("submit result")
	}
	r.Code = Code(code)
	if r.Duplicate && r.Code != CodeOK {
		return malformed("submit result: duplicate with an error")
	}
	return nil
}

// Kind tells what a delivered envelope carries.
type Kind uint8

const (
	// KindMessage is end-to-end ciphertext from the device From.
	KindMessage Kind = 1
	// KindExpired is a relay notice: Payload is the concatenated 16-byte
	// IDs of messages this device sent to From that expired undelivered.
	KindExpired Kind = 2
)

// Deliver carries one queued envelope to its device (TypeDeliver). The
// device acknowledges Seq once it has safely stored what the envelope
// carried; until then the relay may deliver it again.
type Deliver struct {
	Seq     uint64
	From    addr.Address
	ID      addr.MessageID
	Kind    Kind
	Queued  time.Time // when the relay stored it, to the millisecond
	Payload []byte
}

// Type returns TypeDeliver.
func (*Deliver) Type() Type { return TypeDeliver }

func (d *Deliver) appendBody(b *cryptobyte.Builder) {
	b.AddUint64(d.Seq)
	addAddress(b, d.From)
	b.AddBytes(d.ID[:])
	b.AddUint8(uint8(d.Kind))
	addTime(b, d.Queued)
	addPayload(b, d.Payload)
}

func (d *Deliver) parseBody(s *cryptobyte.String) error {
	var kind uint8
	if !s.ReadUint64(&d.Seq) || !readAddress(s, &d.From, false) || !readMessageID(s, &d.ID) ||
		!s.ReadUint8(&kind) || kind == 0 || !readTime(s, &d.Queued) {
		return malformed("deliver")
	}
	d.Kind = Kind(kind)
	return readPayload(s, &d.Payload, "deliver")
}

// Ack acknowledges delivered envelopes by Seq (TypeAck): the relay deletes
// them and answers with an AckResult. A quiet Ack (TypeAckQuiet, same
// body) is answered with nothing: a relay handles one connection's frames
// in order, so the AckResult of a later Ack confirms it too.
type Ack struct {
	Seqs  []uint64
	Quiet bool // sent as TypeAckQuiet
}

// Type returns TypeAck, or TypeAckQuiet for a quiet Ack.
func (a *Ack) Type() Type {
	if a.Quiet {
		return TypeAckQuiet
	}
	return TypeAck
}

func (a *Ack) appendBody(b *cryptobyte.Builder)       { addSeqs(b, a.Seqs) }
func (a *Ack) parseBody(s *cryptobyte.String) error   { return readSeqs(s, &a.Seqs, "ack") }
func (a *AckResult) appendBody(b *cryptobyte.Builder) { addSeqs(b, a.Seqs) }
func (a *AckResult) parseBody(s *cryptobyte.String) error {
	return readSeqs(s, &a.Seqs, "ack result")
}

// AckResult confirms that the envelopes of one Ack are deleted
// (TypeAckResult), so a client may stop knowing its acks were applied.
type AckResult struct {
	Seqs []uint64
}

// Type returns TypeAckResult.
func (*AckResult) Type() Type { return TypeAckResult }

func addSeqs(b *cryptobyte.Builder, seqs []uint64) {
	n := len(seqs)
	if n == 0 || n > MaxAckBatch {
		b.SetError(malformed("ack: count"))
		return
	}
	b.AddUint16(uint16(n))
	for _, q := range seqs {
		b.AddUint64(q)
	}
}

func readSeqs(s *cryptobyte.String, out *[]uint64, what string) error {
	var n uint16
	if !s.ReadUint16(&n) || n == 0 || n > MaxAckBatch {
		return malformed(what + ": count")
	}
	seqs := make([]uint64, n)
	for i := range seqs {
		if !s.ReadUint64(&seqs[i]) {
			return malformed(what + ": seq")
		}
	}
	*out = seqs
	return nil
}

// Synced tells a device that everything queued for it when its backlog
// was read has been sent (TypeSynced): a one-shot client that has acked
// all of it and received the AckResults may stop. Live envelopes follow.
type Synced struct{}

// Type returns TypeSynced.
func (*Synced) Type() Type                           { return TypeSynced }
func (*Synced) appendBody(*cryptobyte.Builder)       {}
func (*Synced) parseBody(s *cryptobyte.String) error { return nil }
