package wire

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"golang.org/x/crypto/cryptobyte"

	"parley.dev/internal/addr"
)

// Version is the protocol version, the first byte of every frame. A frame
// with any other first byte is refused with CodeUnsupportedVersion.
const Version = 1

// HeaderLen is the size of the version and type bytes that start a frame.
const HeaderLen = 2

// ContentType is the media type of HTTP bodies holding a frame.
const ContentType = "application/vnd.parley.frame"

// Limits every parser enforces. A relay may enforce lower ones (its
// configured envelope size, for example) and says so in its Welcome frame.
const (
	// MaxEnvelope is the largest envelope payload any frame may carry.
	MaxEnvelope = 1 << 20
	// DefaultMaxEnvelope is parleyd's default per-envelope limit.
	DefaultMaxEnvelope = 256 << 10
	// MaxOverhead bounds the bytes a Submit or Deliver frame adds to its
	// payload, so MaxEnvelope+MaxOverhead bounds every frame.
	MaxOverhead = 512
	// MaxFrame is the largest frame of any type.
	MaxFrame = MaxEnvelope + MaxOverhead
	// MaxKey is the longest encoded public key (an ML-KEM-1024 key is
	// 1,568 bytes before its encoding's header).
	MaxKey = 2048
	// MaxSignature is the longest encoded signature or device certificate.
	MaxSignature = 512
	// MaxToken is the longest registration token text.
	MaxToken = 512
	// MaxPreKeysPerUpload is the most one-time prekeys of one kind in one
	// PreKeyUpload.
	MaxPreKeysPerUpload = 100
	// MaxDevices is the most devices a DeviceList carries (and so the most
	// devices a user may have at once).
	MaxDevices = 64
	// MaxAckBatch is the most sequence numbers in one Ack or AckResult.
	MaxAckBatch = 1024
)

// Type is a frame's second byte. The layouts below are each type's body.
// "address" is u8-prefixed user ID | u32 device (addr.Address.AppendBinary);
// "msgid" is 16 bytes, never all zero; "time" is u64 Unix milliseconds no
// larger than 2^63-1; "bool" is one byte, 0 or 1; "prekey" is
// u32 id | u16-prefixed public key | u16-prefixed signature.
type Type uint8

// Frame types. Numbers are part of the protocol; never reorder or reuse them.
const (
	// TypeError: u16 code (nonzero) | u8-prefixed detail. See Error.
	TypeError Type = 0x01
	// TypeOK: empty. A bare success, e.g. for a revocation.
	TypeOK Type = 0x02

	// TypeChallenge: 32-byte challenge | u32 lifetime in seconds.
	TypeChallenge Type = 0x10
	// TypeProof: address (device 0 when registering) | 32-byte challenge |
	// 64-byte Ed25519 signature. Sent base64url in the Authorization header.
	TypeProof Type = 0x11
	// TypeRegistrationToken: u8-prefixed user ID | u64 expiry (Unix
	// seconds) | 16-byte nonce | 64-byte Ed25519 signature.
	TypeRegistrationToken Type = 0x12

	// TypeRegister: u8-prefixed user ID | u16-prefixed identity key |
	// u16-prefixed device key | u16-prefixed device certificate |
	// u16-prefixed token text (empty: none).
	TypeRegister Type = 0x20
	// TypeRegistered: address (the new device).
	TypeRegistered Type = 0x21
	// TypeDeviceList: u8-prefixed user ID | u16-prefixed identity key |
	// u16 count | count × (u32 device | u16-prefixed device key |
	// u16-prefixed certificate), devices in ascending order.
	TypeDeviceList Type = 0x22

	// TypePreKeyUpload: u8 flags (bit 0: signed prekey follows; bit 1:
	// last-resort KEM prekey follows) | [prekey] | [prekey] | u16 count |
	// count × prekey (one-time X25519) | u16 count | count × prekey
	// (one-time ML-KEM).
	TypePreKeyUpload Type = 0x30
	// TypePreKeyStatus: u32 one-time X25519 left | u32 one-time ML-KEM left
	// | u32 low-water mark | u32 most storable per kind.
	TypePreKeyStatus Type = 0x31
	// TypeBundle: address | u16-prefixed identity key | u16-prefixed device
	// key | u16-prefixed certificate | prekey (signed X25519) | bool |
	// [prekey (one-time X25519), if bool] | prekey (ML-KEM) | bool (the
	// ML-KEM prekey is the last-resort one).
	TypeBundle Type = 0x32

	// TypeWelcome: address (the connected device) | u32 max envelope |
	// u16 delivery window | u16 most submissions in flight | [u8 flags,
	// if present: 1 (bit 0: quiet Acks taken; the others reserved)].
	TypeWelcome Type = 0x40
	// TypeSubmit: address (recipient) | msgid | u24-prefixed payload |
	// [u32 TTL in seconds, nonzero, if present].
	TypeSubmit Type = 0x41
	// TypeSubmitResult: address (recipient) | msgid | u16 code (0: stored) |
	// bool (an envelope with this ID was already stored).
	TypeSubmitResult Type = 0x42
	// TypeDeliver: u64 seq | address (sender) | msgid | u8 kind | time
	// (queued) | u24-prefixed payload.
	TypeDeliver Type = 0x43
	// TypeAck: u16 count (1..MaxAckBatch) | count × u64 seq.
	TypeAck Type = 0x44
	// TypeAckResult: u16 count (1..MaxAckBatch) | count × u64 seq (the
	// acknowledged envelopes are deleted).
	TypeAckResult Type = 0x45
	// TypeSynced: empty. Everything queued when the connection's backlog
	// was read has been sent.
	TypeSynced Type = 0x46
	// TypeRequest: u32 request ID | u8 op | the op's fields: OpDevices
	// u8-prefixed user ID; OpBundle and OpRevoke address; OpPreKeyUpload a
	// PreKeyUpload body; OpPreKeyStatus none. See Request.
	TypeRequest Type = 0x47
	// TypeResponse: u32 request ID | one whole frame (version, type, body):
	// Error, OK, DeviceList, Bundle or PreKeyStatus. See Response.
	TypeResponse Type = 0x48
	// TypeAckQuiet: the body of TypeAck. The envelopes are deleted and
	// no AckResult is sent.
	TypeAckQuiet Type = 0x49
)

var typeNames = map[Type]string{
	TypeError: "error", TypeOK: "ok",
	TypeChallenge: "challenge", TypeProof: "proof", TypeRegistrationToken: "registration-token",
	TypeRegister: "register", TypeRegistered: "registered", TypeDeviceList: "device-list",
	TypePreKeyUpload: "prekey-upload", TypePreKeyStatus: "prekey-status", TypeBundle: "bundle",
	TypeWelcome: "welcome", TypeSubmit: "submit", TypeSubmitResult: "submit-result",
	TypeDeliver: "deliver", TypeAck: "ack", TypeAckQuiet: "ack-quiet", TypeAckResult: "ack-result", TypeSynced: "synced",
	TypeRequest: "request", TypeResponse: "response",
}

// String returns the type's name, such as "submit".
func (t Type) String() string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return "type-0x" + strconv.FormatUint(uint64(t), 16)
}

// Frame is one of the frame types of this package (always a pointer, such
// as *Submit). The set is closed.
type Frame interface {
	Type() Type
	appendBody(b *cryptobyte.Builder)
	parseBody(s *cryptobyte.String) error
}

// newFrame returns an empty frame of type t, or nil.
func newFrame(t Type) Frame {
	switch t {
	case TypeError:
		return new(Error)
	case TypeOK:
		return new(OK)
	case TypeChallenge:
		return new(Challenge)
	case TypeProof:
		return new(Proof)
	case TypeRegistrationToken:
		return new(RegistrationToken)
	case TypeRegister:
		return new(Register)
	case TypeRegistered:
		return new(Registered)
	case TypeDeviceList:
		return new(DeviceList)
	}
	return newMailboxFrame(t)
}

func newMailboxFrame(t Type) Frame {
	switch t {
	case TypePreKeyUpload:
		return new(PreKeyUpload)
	case TypePreKeyStatus:
		return new(PreKeyStatus)
	case TypeBundle:
		return new(Bundle)
	case TypeWelcome:
		return new(Welcome)
	case TypeSubmit:
		return new(Submit)
	case TypeSubmitResult:
		return new(SubmitResult)
	case TypeDeliver:
		return new(Deliver)
	case TypeAck:
		return new(Ack)
	case TypeAckQuiet:
		return &Ack{Quiet: true}
	case TypeAckResult:
		return new(AckResult)
	case TypeSynced:
		return new(Synced)
	case TypeRequest:
		return new(Request)
	case TypeResponse:
		return new(Response)
	}
	if f := newBlobFrame(t); f != nil {
		return f
	}
	if f := newUnlockFrame(t); f != nil {
		return f
	}
	if f := newPushFrame(t); f != nil {
		return f
	}
	if f := newPolicyFrame(t); f != nil {
		return f
	}
	return newGroupFrame(t)
}

// Marshal encodes f as a frame.
func Marshal(f Frame) ([]byte, error) { return Append(nil, f) }

// Append appends f's frame encoding to buf. It fails, appending nothing,
// if f holds a value Parse would refuse (an invalid address, an oversized
// payload, ...), so that whatever Append produces parses.
func Append(buf []byte, f Frame) ([]byte, error) {
	b := cryptobyte.NewBuilder(buf)
	b.AddUint8(Version)
	b.AddUint8(uint8(f.Type()))
	f.appendBody(b)
	out, err := b.Bytes()
	if err != nil {
		return buf, fmt.Errorf("wire: marshal %v: %w", f.Type(), malformed("length out of range"))
	}
	s := cryptobyte.String(out[len(buf)+HeaderLen:])
	if err := reparse(f.Type(), &s); err != nil {
		return buf, fmt.Errorf("wire: marshal %v: %w", f.Type(), err)
	}
	if !s.Empty() {
		return buf, fmt.Errorf("wire: marshal %v: %w", f.Type(), malformed("trailing bytes"))
	}
	return out, nil
}

// reparse parses a body Append wrote, as a frame of type t. The frames a
// relay writes for every envelope are parsed into a value on the stack,
// others into a new one.
func reparse(t Type, s *cryptobyte.String) error {
	switch t {
	case TypeSubmitResult:
		var f SubmitResult
		return f.parseBody(s)
	case TypeDeliver:
		var f Deliver
		return f.parseBody(s)
	case TypeAckResult:
		var f AckResult
		return f.parseBody(s)
	}
	rest := *s // only this copy escapes (into an interface call), not s
	err := newFrame(t).parseBody(&rest)
	*s = rest
	return err
}

// Parse decodes one frame of any type. Errors are *Error values with
// CodeUnsupportedVersion, CodeTooLarge or CodeMalformed.
func Parse(b []byte) (Frame, error) {
	t, err := PeekType(b)
	if err != nil {
		return nil, err
	}
	f := newFrame(t)
	if f == nil {
		return nil, malformed("unknown frame type " + t.String())
	}
	s := cryptobyte.String(b[HeaderLen:])
	if err := f.parseBody(&s); err != nil {
		return nil, err
	}
	if !s.Empty() {
		return nil, malformed(t.String() + ": trailing bytes")
	}
	return f, nil
}

// PeekType checks a frame's size and version and returns its type without
// parsing the body.
func PeekType(b []byte) (Type, error) {
	switch {
	case len(b) > MaxFrame:
		return 0, Errorf(CodeTooLarge, "frame exceeds "+strconv.Itoa(MaxFrame)+" bytes")
	case len(b) < HeaderLen:
		return 0, malformed("short frame")
	case b[0] != Version:
		return 0, Errorf(CodeUnsupportedVersion, "version "+strconv.Itoa(int(b[0]))+", want "+strconv.Itoa(Version))
	}
	return Type(b[1]), nil
}

// ParseAs decodes a frame that must be of type F, such as
// ParseAs[*Submit](b). A frame of another type is CodeMalformed, except an
// Error frame, which is returned as the error.
func ParseAs[F Frame](b []byte) (F, error) {
	var zero F
	f, err := Parse(b)
	if err != nil {
		return zero, err
	}
	if out, ok := f.(F); ok {
		return out, nil
	}
	if e, ok := f.(*Error); ok {
		return zero, e
	}
	return zero, malformed("unexpected " + f.Type().String() + " frame, want " + zero.Type().String())
}

// Field helpers shared by the frame files.

// The length-prefixed fields write their prefix themselves: cryptobyte's
// Add*LengthPrefixed allocates a child Builder for each, and a relay
// writes three frames per envelope. The bytes are the same; a field too
// long for its prefix fails the Builder as cryptobyte's would.

func addString8(b *cryptobyte.Builder, s string) {
	if len(s) > math.MaxUint8 {
		b.SetError(errFieldLength)
		return
	}
	b.AddUint8(uint8(len(s)))
	b.AddBytes([]byte(s))
}

func addBytes16(b *cryptobyte.Builder, v []byte) {
	if len(v) > math.MaxUint16 {
		b.SetError(errFieldLength)
		return
	}
	b.AddUint16(uint16(len(v)))
	b.AddBytes(v)
}

// errFieldLength fails a Builder given a field longer than its prefix
// allows.
var errFieldLength = errors.New("wire: field too long for its length prefix")

func addBool(b *cryptobyte.Builder, v bool) {
	if v {
		b.AddUint8(1)
	} else {
		b.AddUint8(0)
	}
}

func readBool(s *cryptobyte.String, out *bool) bool {
	var v uint8
	if !s.ReadUint8(&v) || v > 1 {
		return false
	}
	*out = v == 1
	return true
}

// readBytes16 reads a u16-prefixed field of 1..max bytes (0..max if empty
// is allowed).
func readBytes16(s *cryptobyte.String, out *[]byte, max int, allowEmpty bool) bool {
	var v cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&v) || len(v) > max || len(v) == 0 && !allowEmpty {
		return false
	}
	*out = nil
	if len(v) > 0 {
		*out = v
	}
	return true
}

func addUser(b *cryptobyte.Builder, u addr.UserID) { addString8(b, string(u)) }

func readUser(s *cryptobyte.String, out *addr.UserID) bool {
	var v cryptobyte.String
	if !s.ReadUint8LengthPrefixed(&v) {
		return false
	}
	u, err := addr.ParseUserID(string(v))
	*out = u
	return err == nil
}

func addAddress(b *cryptobyte.Builder, a addr.Address) {
	addUser(b, a.User)
	b.AddUint32(uint32(a.Device))
}

// readAddress reads an address; the device must be nonzero unless
// zeroDevice is set.
func readAddress(s *cryptobyte.String, out *addr.Address, zeroDevice bool) bool {
	var dev uint32
	if !readUser(s, &out.User) || !s.ReadUint32(&dev) {
		return false
	}
	out.Device = addr.DeviceID(dev)
	return dev != 0 || zeroDevice
}

func readMessageID(s *cryptobyte.String, out *addr.MessageID) bool {
	return s.CopyBytes(out[:]) && !out.IsZero()
}

func addTime(b *cryptobyte.Builder, t time.Time) {
	ms := t.UnixMilli()
	if ms < 0 {
		b.SetError(fmt.Errorf("wire: time before 1970"))
		return
	}
	b.AddUint64(uint64(ms))
}

func readTime(s *cryptobyte.String, out *time.Time) bool {
	var ms uint64
	if !s.ReadUint64(&ms) || ms > math.MaxInt64 {
		return false
	}
	*out = time.UnixMilli(int64(ms))
	return true
}

func addPayload(b *cryptobyte.Builder, p []byte) {
	if len(p) >= 1<<24 {
		b.SetError(errFieldLength)
		return
	}
	b.AddUint24(uint32(len(p)))
	b.AddBytes(p)
}

// readPayload reads a u24-prefixed payload of at most MaxEnvelope bytes;
// a longer one is CodeTooLarge.
func readPayload(s *cryptobyte.String, out *[]byte, what string) error {
	var v cryptobyte.String
	if !s.ReadUint24LengthPrefixed(&v) {
		return malformed(what + ": payload")
	}
	if len(v) > MaxEnvelope {
		return Errorf(CodeTooLarge, what+": payload exceeds "+strconv.Itoa(MaxEnvelope)+" bytes")
	}
	*out = v
	return nil
}
