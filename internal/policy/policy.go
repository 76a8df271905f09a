// Package policy is the signed tenant policy of an enterprise deployment:
// the rules an app's devices follow (PIN, unlock factors, retention,
// disappearing timers, attachments, devices, screenshot and backup flags),
// signed by the tenant's policy key, which the relay never holds. The relay
// stores and serves the newest signed document; clients verify it against
// the public key the app embeds and never accept an older version than one
// they hold (docs/protocol.md, "Tenant policy").
//
// Encoding (big-endian; cryptobyte):
//
//	signed   = u24-prefixed body | 64-byte Ed25519 signature
//	body     = u8 format (1) | u64 version (>= 1) | u64 issued (Unix s) |
//	           u8 min PIN digits | u8 min passphrase length |
//	           u8 count | count × u8-prefixed required factor name |
//	           u32 retention days (0: keep) |
//	           u32 default timer s | u32 max timer s (0: no cap) |
//	           u8 flags (bit 0 attachments, 1 linking, 2 screenshots,
//	           3 backups; other bits zero) |
//	           u64 max attachment bytes (0: the relay's limit) |
//	           u16 max devices per user (0: the relay's limit)
//
// The signature covers SigContext followed by the body. Parse accepts
// exactly what Marshal produces and refuses trailing bytes. Values are
// plain; safe for concurrent use once built.
package policy

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/cryptobyte"
)

// Format is the body's first byte.
const Format = 1

// SigContext prefixes the body under the signature, so that a policy
// signature can never be taken for another Ed25519 signature.
const SigContext = "parley.dev/policy/v1\x00"

// Limits of a policy's fields.
const (
	MaxFactors      = 8
	MaxFactorName   = 64
	MaxPINLen       = 64
	MaxRetention    = 36500           // days
	MaxTimer        = 365 * 24 * 3600 // seconds
	MaxSigned       = 1 << 10         // bytes of a signed policy
	SignatureLength = ed25519.SignatureSize
)

// Flag bits.
const (
	flagAttachments = 1 << iota
	flagLinking
	flagScreenshots
	flagBackups
	flagsKnown = flagAttachments | flagLinking | flagScreenshots | flagBackups
)

// Errors. Every Parse, Marshal and Verify error wraps one of them.
var (
	ErrMalformed = errors.New("policy: malformed")
	ErrSignature = errors.New("policy: bad signature")
)

// Policy is one version of a tenant's rules. The zero value of each rule
// means "no rule" (the SDK's own defaults).
type Policy struct {
	Version uint64    // increases with every new policy; at least 1
	Issued  time.Time // when it was signed, to the second

	MinPINDigits     int      // 0 or 6..MaxPINLen
	MinPassphrase    int      // 0 or 8..MaxPINLen
	RequiredFactors  []string // vault factor names every device must use ("relay": the relay PIN factor)
	RetentionDays    int      // history older than this is deleted on the device; 0 keeps it
	DefaultTimer     time.Duration
	MaxTimer         time.Duration // 0: no cap
	Attachments      bool
	MaxAttachment    int64 // bytes; 0: the relay's limit
	MaxDevices       int   // per user; 0: the relay's limit
	Linking          bool
	ScreenshotsAllow bool // a flag for the app: the SDK cannot take screenshots
	BackupsAllow     bool // a flag for the app (OS backups of its data)
}

// Check reports whether p is a valid policy.
func (p *Policy) Check() error {
	bad := func(f string, a ...any) error { return fmt.Errorf("%w: "+f, append([]any{ErrMalformed}, a...)...) }
	switch {
	case p.Version == 0 || p.Version > 1<<62:
		return bad("version %d", p.Version)
	case p.Issued.Unix() < 0:
		return bad("issued before 1970")
	case p.MinPINDigits != 0 && (p.MinPINDigits < 6 || p.MinPINDigits > MaxPINLen):
		return bad("min PIN digits %d", p.MinPINDigits)
	case p.MinPassphrase != 0 && (p.MinPassphrase < 8 || p.MinPassphrase > MaxPINLen):
		return bad("min passphrase %d", p.MinPassphrase)
	case len(p.RequiredFactors) > MaxFactors:
		return bad("%d required factors", len(p.RequiredFactors))
	case p.RetentionDays < 0 || p.RetentionDays > MaxRetention:
		return bad("retention of %d days", p.RetentionDays)
	case !timerOK(p.DefaultTimer) || !timerOK(p.MaxTimer):
		return bad("timer out of range or not whole seconds")
	case p.MaxTimer != 0 && p.DefaultTimer > p.MaxTimer:
		return bad("default timer above the maximum")
	case p.MaxTimer != 0 && p.DefaultTimer == 0:
		return bad("a maximum timer needs a default timer (messages may not live for ever)")
	case p.MaxAttachment < 0:
		return bad("max attachment size %d", p.MaxAttachment)
	case p.MaxDevices < 0 || p.MaxDevices > 1<<16-1:
		return bad("max devices %d", p.MaxDevices)
	}
	seen := map[string]bool{}
	for _, f := range p.RequiredFactors {
		if !factorNameOK(f) || seen[f] {
			return bad("required factor name %q", f)
		}
		seen[f] = true
	}
	return nil
}

func timerOK(d time.Duration) bool {
	return d >= 0 && d <= MaxTimer*time.Second && d%time.Second == 0
}

func factorNameOK(s string) bool {
	if len(s) == 0 || len(s) > MaxFactorName {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// MarshalBody encodes p's body (what the signature covers, without
// SigContext).
func (p *Policy) MarshalBody() ([]byte, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	var b cryptobyte.Builder
	b.AddUint8(Format)
	b.AddUint64(p.Version)
	b.AddUint64(uint64(p.Issued.Unix()))
	b.AddUint8(uint8(p.MinPINDigits))
	b.AddUint8(uint8(p.MinPassphrase))
	b.AddUint8(uint8(len(p.RequiredFactors)))
	for _, f := range p.RequiredFactors {
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(f)) })
	}
	b.AddUint32(uint32(p.RetentionDays))
	b.AddUint32(uint32(p.DefaultTimer / time.Second))
	b.AddUint32(uint32(p.MaxTimer / time.Second))
	var flags uint8
	for bit, on := range map[uint8]bool{flagAttachments: p.Attachments, flagLinking: p.Linking,
		flagScreenshots: p.ScreenshotsAllow, flagBackups: p.BackupsAllow} {
		if on {
			flags |= bit
		}
	}
	b.AddUint8(flags)
	b.AddUint64(uint64(p.MaxAttachment))
	b.AddUint16(uint16(p.MaxDevices))
	return b.Bytes()
}

// ParseBody decodes a body. It does not check any signature.
func ParseBody(body []byte) (*Policy, error) {
	s := cryptobyte.String(body)
	var format, pin, pass, n, flags uint8
	var version, issued, maxAtt uint64
	var ret, def, mx uint32
	var devs uint16
	if !s.ReadUint8(&format) || format != Format {
		return nil, fmt.Errorf("%w: format", ErrMalformed)
	}
	if !s.ReadUint64(&version) || !s.ReadUint64(&issued) || issued > 1<<62 ||
		!s.ReadUint8(&pin) || !s.ReadUint8(&pass) || !s.ReadUint8(&n) || n > MaxFactors {
		return nil, fmt.Errorf("%w: header", ErrMalformed)
	}
	p := &Policy{Version: version, Issued: time.Unix(int64(issued), 0), MinPINDigits: int(pin), MinPassphrase: int(pass)}
	for range n {
		var f cryptobyte.String
		if !s.ReadUint8LengthPrefixed(&f) {
			return nil, fmt.Errorf("%w: factor", ErrMalformed)
		}
		p.RequiredFactors = append(p.RequiredFactors, string(f))
	}
	if !s.ReadUint32(&ret) || !s.ReadUint32(&def) || !s.ReadUint32(&mx) || !s.ReadUint8(&flags) ||
		flags&^flagsKnown != 0 || !s.ReadUint64(&maxAtt) || maxAtt > 1<<62 || !s.ReadUint16(&devs) || !s.Empty() {
		return nil, fmt.Errorf("%w: rules", ErrMalformed)
	}
	p.RetentionDays, p.MaxAttachment, p.MaxDevices = int(ret), int64(maxAtt), int(devs)
	p.DefaultTimer, p.MaxTimer = time.Duration(def)*time.Second, time.Duration(mx)*time.Second
	p.Attachments, p.Linking = flags&flagAttachments != 0, flags&flagLinking != 0
	p.ScreenshotsAllow, p.BackupsAllow = flags&flagScreenshots != 0, flags&flagBackups != 0
	if err := p.Check(); err != nil {
		return nil, err
	}
	return p, nil
}

// Sign returns the signed document of p under key.
func Sign(p *Policy, key ed25519.PrivateKey) ([]byte, error) {
	body, err := p.MarshalBody()
	if err != nil {
		return nil, err
	}
	sig := ed25519.Sign(key, append([]byte(SigContext), body...))
	var b cryptobyte.Builder
	b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(body) })
	b.AddBytes(sig)
	return b.Bytes()
}

// Signed is a signed document split into its parts, not yet verified.
type Signed struct {
	Body      []byte
	Signature []byte
	Policy    *Policy // the parsed body
}

// Parse splits and parses a signed document without verifying it (the
// relay's view: it checks the form and the version, never the signer).
func Parse(doc []byte) (*Signed, error) {
	if len(doc) > MaxSigned {
		return nil, fmt.Errorf("%w: %d bytes", ErrMalformed, len(doc))
	}
	s := cryptobyte.String(doc)
	var body cryptobyte.String
	var sig []byte
	if !s.ReadUint24LengthPrefixed(&body) || !s.ReadBytes(&sig, SignatureLength) || !s.Empty() {
		return nil, fmt.Errorf("%w: signed document", ErrMalformed)
	}
	p, err := ParseBody(body)
	if err != nil {
		return nil, err
	}
	return &Signed{Body: body, Signature: sig, Policy: p}, nil
}

// Verify parses doc and checks its signature under pub.
func Verify(doc []byte, pub ed25519.PublicKey) (*Policy, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: no policy key", ErrSignature)
	}
	s, err := Parse(doc)
	if err != nil {
		return nil, err
	}
	if !ed25519.Verify(pub, append([]byte(SigContext), s.Body...), s.Signature) {
		return nil, ErrSignature
	}
	return s.Policy, nil
}
