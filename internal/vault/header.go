package vault

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/crypto/cryptobyte"
)

// The header file holds everything needed to unlock the vault: the KDF
// parameters, the salt, the factor names and the wrapped data key. Layout
// (version 1, all integers big-endian):
//
//	offset size
//	0      8    magic "PARLEYVK"
//	8      1    version = 1
//	9      1    state: 1 = active, 2 = wiped
//	            -- active only --
//	10     1    KDF = 1 (Argon2id)
//	11     4    memory, KiB
//	15     4    time (passes)
//	19     1    threads
//	20     32   salt
//	52     16   vault ID
//	68     1    factor count n (0..MaxFactors)
//	69     ...  n × (u8 length, name)
//	       24   nonce           } the data key sealed with XChaCha20-Poly1305
//	       48   sealed data key } under the KEK; AD = labelWrap || all bytes above
//	            -- both --
//	       32   SHA-256 of all bytes above
//
// The trailing digest catches corruption and naive edits before any KDF
// work, so that they are reported as ErrCorrupt and not as a wrong PIN. It
// is not a MAC: a deliberate edit that fixes the digest is caught by the
// AEAD, which then cannot tell it from a wrong PIN.
const (
	headerFile     = "vault.key"
	headerMagic    = "PARLEYVK"
	headerVersion  = 1
	stateActive    = 1
	stateWiped     = 2
	kdfArgon2id    = 1
	wrappedKeySize = nonceSize + keySize + tagSize // 72
	maxHeaderSize  = 4096
)

// header is the parsed header file.
type header struct {
	state   uint8
	kdf     KDFParams
	salt    [saltSize]byte
	vaultID [vaultIDSize]byte
	factors []string
	wrapped []byte // nonce || sealed data key; wrappedKeySize bytes
}

// prefix returns the header's bytes that precede the wrapped key: the
// wrapping's associated data, after labelWrap.
func (h *header) prefix() []byte {
	var b cryptobyte.Builder
	b.AddBytes([]byte(headerMagic))
	b.AddUint8(headerVersion)
	b.AddUint8(h.state)
	if h.state == stateActive {
		b.AddUint8(kdfArgon2id)
		b.AddUint32(h.kdf.Memory)
		b.AddUint32(h.kdf.Time)
		b.AddUint8(h.kdf.Threads)
		b.AddBytes(h.salt[:])
		b.AddBytes(h.vaultID[:])
		b.AddUint8(uint8(len(h.factors)))
		for _, n := range h.factors {
			b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(n)) })
		}
	}
	return b.BytesOrPanic()
}

// wrapAD is the associated data of the wrapped data key.
func (h *header) wrapAD() []byte {
	return append([]byte(labelWrap), h.prefix()...)
}

// marshal encodes h, digest included.
func (h *header) marshal() []byte {
	b := h.prefix()
	if h.state == stateActive {
		b = append(b, h.wrapped...)
	}
	d := digest(b)
	return append(b, d[:]...)
}

// parseHeader decodes a header file. It checks the caps (and, unless the
// test hook is set, the floors) of the KDF parameters, so that a parsed
// header is safe to run the KDF on. Every failure wraps ErrCorrupt.
func parseHeader(b []byte) (*header, error) {
	if len(b) > maxHeaderSize || len(b) < len(headerMagic)+2+len(digest(nil)) {
		return nil, corrupt("header of %d bytes", len(b))
	}
	body, sum := b[:len(b)-len(digest(nil))], b[len(b)-len(digest(nil)):]
	if d := digest(body); subtle.ConstantTimeCompare(d[:], sum) != 1 {
		return nil, corrupt("header digest mismatch")
	}
	s := cryptobyte.String(body)
	var magic []byte
	var version uint8
	h := new(header)
	if !s.ReadBytes(&magic, len(headerMagic)) || string(magic) != headerMagic ||
		!s.ReadUint8(&version) || !s.ReadUint8(&h.state) {
		return nil, corrupt("not a vault header")
	}
	if version != headerVersion {
		return nil, corrupt("header version %d not supported", version)
	}
	switch h.state {
	case stateWiped:
		if !s.Empty() {
			return nil, corrupt("trailing bytes in wiped header")
		}
		return h, nil
	case stateActive:
		return h, h.parseActive(&s)
	}
	return nil, corrupt("header state %d", h.state)
}

// parseActive reads the part of an active header after its state byte.
func (h *header) parseActive(s *cryptobyte.String) error {
	var kdf, n uint8
	if !s.ReadUint8(&kdf) || !s.ReadUint32(&h.kdf.Memory) || !s.ReadUint32(&h.kdf.Time) ||
		!s.ReadUint8(&h.kdf.Threads) || !s.CopyBytes(h.salt[:]) || !s.CopyBytes(h.vaultID[:]) ||
		!s.ReadUint8(&n) {
		return corrupt("truncated header")
	}
	if kdf != kdfArgon2id {
		return corrupt("header KDF %d not supported", kdf)
	}
	if err := h.kdf.check(cheapKDF.Load()); err != nil {
		return corrupt("header: %v", err)
	}
	if n > MaxFactors {
		return corrupt("header names %d factors, at most %d", n, MaxFactors)
	}
	for range n {
		var name cryptobyte.String
		if !s.ReadUint8LengthPrefixed(&name) {
			return corrupt("truncated header")
		}
		if err := checkFactorName(string(name)); err != nil {
			return corrupt("header: %v", err)
		}
		if slices.Contains(h.factors, string(name)) {
			return corrupt("header names factor %q twice", name)
		}
		h.factors = append(h.factors, string(name))
	}
	if !s.ReadBytes(&h.wrapped, wrappedKeySize) || !s.Empty() {
		return corrupt("header: wrapped key is not %d bytes", wrappedKeySize)
	}
	h.wrapped = bytes.Clone(h.wrapped)
	return nil
}

// readHeader reads and parses dir's header file. It returns ErrNoVault if
// there is none and ErrWiped if the vault was wiped.
func readHeader(dir string) (*header, error) {
	f, err := os.Open(filepath.Join(dir, headerFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoVault
	}
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxHeaderSize+1))
	if err != nil {
		return nil, fmt.Errorf("vault: reading header: %w", err)
	}
	h, err := parseHeader(b)
	if err != nil {
		return nil, err
	}
	if h.state == stateWiped {
		return nil, ErrWiped
	}
	return h, nil
}
