package keys

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
)

// X25519Size is the size of an X25519 public key, private key and shared
// secret.
const X25519Size = 32

// fieldPrime is p = 2^255 - 19 in little-endian order, the bound of a
// canonical curve coordinate.
var fieldPrime = mustHex("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")

// x25519LowOrder lists the canonical encodings of the X25519 u-coordinates of
// small order (dividing 8): 0, 1, the two points of order 8, and p-1. Any
// other canonical u-coordinate yields a nonzero DH output with every clamped
// scalar (TestX25519LowOrderList checks this against crypto/ecdh).
var x25519LowOrder = [][]byte{
	mustHex("0000000000000000000000000000000000000000000000000000000000000000"),
	mustHex("0100000000000000000000000000000000000000000000000000000000000000"),
	mustHex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
	mustHex("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
	mustHex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
}

// ed25519SmallOrder lists the encodings of the Ed25519 points of small order
// (dividing 8) that a canonical-y check lets through: the identity, the
// point of order 2, the two of order 4 and the four of order 8, plus the
// identity and the order-2 point with the sign bit wrongly set.
var ed25519SmallOrder = [][]byte{
	mustHex("0100000000000000000000000000000000000000000000000000000000000000"),
	mustHex("0100000000000000000000000000000000000000000000000000000000000080"),
	mustHex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
	mustHex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"),
	mustHex("0000000000000000000000000000000000000000000000000000000000000000"),
	mustHex("0000000000000000000000000000000000000000000000000000000000000080"),
	mustHex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
	mustHex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85"),
	mustHex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
	mustHex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa"),
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// lessThanPrime reports whether the little-endian 255-bit number in b
// (the top bit of b[31] ignored) is below p, i.e. a canonical coordinate.
func lessThanPrime(b []byte) bool {
	for i := len(b) - 1; i >= 0; i-- {
		c := b[i]
		if i == len(b)-1 {
			c &= 0x7f
		}
		if c != fieldPrime[i] {
			return c < fieldPrime[i]
		}
	}
	return false // equal to p
}

// CheckX25519 checks that b is a canonical X25519 public key not of low
// order: 32 bytes, top bit clear, u below 2^255-19, and not on the
// low-order list. crypto/ecdh itself accepts all of these. Errors wrap
// ErrWeakKey or ErrMalformed.
func CheckX25519(b []byte) error {
	if len(b) != X25519Size {
		return fmt.Errorf("%w X25519 key: %d bytes", ErrMalformed, len(b))
	}
	if b[X25519Size-1]&0x80 != 0 || !lessThanPrime(b) {
		return fmt.Errorf("%w: non-canonical X25519 key", ErrWeakKey)
	}
	for _, lo := range x25519LowOrder {
		if bytes.Equal(b, lo) {
			return fmt.Errorf("%w: low-order X25519 key", ErrWeakKey)
		}
	}
	return nil
}

// NewX25519Public checks b with CheckX25519 and returns it as a key.
func NewX25519Public(b []byte) (*ecdh.PublicKey, error) {
	if err := CheckX25519(b); err != nil {
		return nil, err
	}
	return ecdh.X25519().NewPublicKey(b)
}

// CheckEd25519 checks a raw Ed25519 public key as every key parser here
// does (for keys that travel without this package's encoding, such as a
// vault's unlock credential). Errors wrap ErrWeakKey or ErrMalformed.
func CheckEd25519(b []byte) error { return checkEd25519(b) }

// checkEd25519 checks that b is a canonical Ed25519 public key (y below p)
// and not of small order.
func checkEd25519(b []byte) error {
	if len(b) != ed25519.PublicKeySize {
		return fmt.Errorf("%w Ed25519 key: %d bytes", ErrMalformed, len(b))
	}
	if !lessThanPrime(b) {
		return fmt.Errorf("%w: non-canonical Ed25519 key", ErrWeakKey)
	}
	for _, lo := range ed25519SmallOrder {
		if bytes.Equal(b, lo) {
			return fmt.Errorf("%w: small-order Ed25519 key", ErrWeakKey)
		}
	}
	return nil
}
