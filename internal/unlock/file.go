package unlock

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"
)

// FileName is the credential file's name in the vault's directory.
const FileName = "vault.unlock"

// The credential file holds the unlock credentials of a vault and how to
// reach their relay: what unlocking needs before the vault is open. It is
// not encrypted: nothing is available to encrypt it under before unlocking
// that would not also let an attacker test PINs offline. It holds no PIN
// and nothing derived from one. Layout (version 1, big-endian):
//
//	8     magic "PARLEYUC"
//	1     version = 1
//	1     entry count n, 1..MaxEntries
//	n ×   32  credential seed (Ed25519)
//	      u16-prefixed relay URL (https, ≤ MaxURLLen)
//	      u24-prefixed CA certificates, PEM (may be empty, ≤ MaxCALen)
//	      u8 pin count (≤ MaxPins) × u8-prefixed SPKI pin
//	32    SHA-256 of all bytes above
//
// It usually holds one entry. While a vault's factors change it holds the
// old and the new credential, so that a crash leaves whichever header is
// on disk able to unlock; the client then retires the other.
const (
	fileMagic   = "PARLEYUC"
	fileVersion = 1
	// MaxEntries bounds the credentials in one file.
	MaxEntries = 4
	// MaxURLLen bounds a relay URL.
	MaxURLLen = 2048
	// MaxCALen bounds the PEM certificates of one entry.
	MaxCALen = 64 << 10
	// MaxPins bounds the pins of one entry; each is at most 255 bytes.
	MaxPins = 16
)

// ErrFile: the credential file is damaged or not of this version.
var ErrFile = errors.New("unlock: credential file corrupt")

// Relay says where a credential's relay is and how to trust it.
type Relay struct {
	URL  string
	CA   []byte   // PEM; empty means the system roots
	Pins []string // SPKI pins, "sha256/<base64>"
}

// Entry is one credential and its relay.
type Entry struct {
	Credential *Credential
	Relay      Relay
}

// File is the parsed credential file.
type File struct {
	Entries []Entry
}

// Find returns the entry of credential id, or nil.
func (f *File) Find(id CredentialID) *Entry {
	for i := range f.Entries {
		if f.Entries[i].Credential.ID() == id {
			return &f.Entries[i]
		}
	}
	return nil
}

// Marshal encodes f. It fails if f would not parse.
func (f *File) Marshal() ([]byte, error) {
	var b cryptobyte.Builder
	b.AddBytes([]byte(fileMagic))
	b.AddUint8(fileVersion)
	b.AddUint8(uint8(len(f.Entries)))
	for _, e := range f.Entries {
		b.AddBytes(e.Credential.Seed())
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(e.Relay.URL)) })
		b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(e.Relay.CA) })
		b.AddUint8(uint8(len(e.Relay.Pins)))
		for _, p := range e.Relay.Pins {
			b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(p)) })
		}
	}
	body, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("unlock: credential file: %w", err)
	}
	sum := sha256.Sum256(body)
	out := append(body, sum[:]...)
	if _, err := ParseFile(out); err != nil {
		return nil, err
	}
	return out, nil
}

// ParseFile decodes a credential file. Every failure wraps ErrFile.
func ParseFile(b []byte) (*File, error) {
	if len(b) < sha256.Size {
		return nil, fmt.Errorf("%w: %d bytes", ErrFile, len(b))
	}
	body, sum := b[:len(b)-sha256.Size], b[len(b)-sha256.Size:]
	if d := sha256.Sum256(body); subtle.ConstantTimeCompare(d[:], sum) != 1 {
		return nil, fmt.Errorf("%w: digest mismatch", ErrFile)
	}
	s := cryptobyte.String(body)
	var magic []byte
	var version, n uint8
	if !s.ReadBytes(&magic, len(fileMagic)) || string(magic) != fileMagic ||
		!s.ReadUint8(&version) || version != fileVersion || !s.ReadUint8(&n) || n == 0 || n > MaxEntries {
		return nil, fmt.Errorf("%w: not a version %d credential file", ErrFile, fileVersion)
	}
	f := &File{}
	for range n {
		e, err := parseEntry(&s)
		if err != nil {
			return nil, err
		}
		if f.Find(e.Credential.ID()) != nil {
			return nil, fmt.Errorf("%w: a credential appears twice", ErrFile)
		}
		f.Entries = append(f.Entries, e)
	}
	if !s.Empty() {
		return nil, fmt.Errorf("%w: trailing bytes", ErrFile)
	}
	return f, nil
}

func parseEntry(s *cryptobyte.String) (Entry, error) {
	var seed, url, ca []byte
	var pins uint8
	if !s.ReadBytes(&seed, SeedSize) || !s.ReadUint16LengthPrefixed((*cryptobyte.String)(&url)) ||
		!s.ReadUint24LengthPrefixed((*cryptobyte.String)(&ca)) || !s.ReadUint8(&pins) {
		return Entry{}, fmt.Errorf("%w: truncated entry", ErrFile)
	}
	if len(url) == 0 || len(url) > MaxURLLen || !utf8.Valid(url) || len(ca) > MaxCALen || pins > MaxPins {
		return Entry{}, fmt.Errorf("%w: entry out of range", ErrFile)
	}
	e := Entry{Relay: Relay{URL: string(url)}}
	if len(ca) > 0 {
		e.Relay.CA = append([]byte(nil), ca...)
	}
	for range pins {
		var p cryptobyte.String
		if !s.ReadUint8LengthPrefixed(&p) || len(p) == 0 || !utf8.Valid(p) {
			return Entry{}, fmt.Errorf("%w: bad pin", ErrFile)
		}
		e.Relay.Pins = append(e.Relay.Pins, string(p))
	}
	c, err := NewCredential(seed)
	if err != nil {
		return Entry{}, fmt.Errorf("%w: %v", ErrFile, err)
	}
	e.Credential = c
	return e, nil
}
