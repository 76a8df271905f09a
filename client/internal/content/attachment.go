package content

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"
)

// Attachment limits and sizes.
const (
	// KeyLen is the size of an attachment's stream key.
	KeyLen = 32
	// BlobIDLen is the size of a relay blob ID.
	BlobIDLen = 16
	// MaxNameLen bounds a file name, MaxTypeLen a content type.
	MaxNameLen = 255
	MaxTypeLen = 127
	// MaxBlobSize bounds the ciphertext size a message may announce.
	MaxBlobSize = 1 << 40
	// minBlobSize is the smallest stream (internal/stream: header and one
	// tag).
	minBlobSize = 17 + 16
)

// Attachment points to a file encrypted with internal/stream and stored on
// the relay, and carries the key that opens it. It is secret: it travels
// only inside an end-to-end encrypted message and sealed in the vault.
//
//	32  key
//	16  blob ID
//	u64 ciphertext size
//	32  SHA-256 of the ciphertext
//	u8-prefixed content type (printable ASCII)
//	u16-prefixed file name (UTF-8, no '/', '\\' or control characters)
//	u32 width, u32 height (pixels; 0 if none)
//	u32 duration in milliseconds (0 if none)
type Attachment struct {
	Key      [KeyLen]byte
	Blob     [BlobIDLen]byte
	Size     uint64
	SHA256   [sha256.Size]byte
	Type     string
	Name     string
	Width    uint32
	Height   uint32
	Duration time.Duration // whole milliseconds
}

func (a *Attachment) append(b *cryptobyte.Builder) {
	b.AddBytes(a.Key[:])
	b.AddBytes(a.Blob[:])
	b.AddUint64(a.Size)
	b.AddBytes(a.SHA256[:])
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(a.Type)) })
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(a.Name)) })
	b.AddUint32(a.Width)
	b.AddUint32(a.Height)
	b.AddUint32(uint32(a.Duration.Milliseconds()))
}

func (a *Attachment) parse(s *cryptobyte.String) bool {
	var typ, name cryptobyte.String
	var ms uint32
	ok := s.CopyBytes(a.Key[:]) && s.CopyBytes(a.Blob[:]) && s.ReadUint64(&a.Size) && s.CopyBytes(a.SHA256[:]) &&
		s.ReadUint8LengthPrefixed(&typ) && s.ReadUint16LengthPrefixed(&name) &&
		s.ReadUint32(&a.Width) && s.ReadUint32(&a.Height) && s.ReadUint32(&ms)
	a.Type, a.Name, a.Duration = string(typ), string(name), time.Duration(ms)*time.Millisecond
	return ok
}

func (a *Attachment) check() error {
	switch {
	case a.Size < minBlobSize || a.Size > MaxBlobSize:
		return malformedf("attachment size %d", a.Size)
	case len(a.Type) > MaxTypeLen || !printableASCII(a.Type):
		return malformedf("attachment content type")
	case len(a.Name) > MaxNameLen || !SafeName(a.Name):
		return malformedf("attachment file name")
	case a.Duration < 0 || a.Duration%time.Millisecond != 0 || a.Duration.Milliseconds() > 1<<32-1:
		return malformedf("attachment duration")
	}
	return nil
}

// SafeName reports whether name is usable as a file name as it is: valid
// UTF-8 without path separators, control characters, "." or "..". The
// empty name is allowed (no name).
func SafeName(name string) bool {
	if name == "." || name == ".." || !utf8.ValidString(name) || strings.ContainsAny(name, "/\\") {
		return false
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func malformedf(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, a...)...)
}
