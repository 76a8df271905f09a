package session

import (
	"fmt"
	"math/bits"
)

// Padding hides a plaintext's length: the plaintext, a 0x80 marker and
// zeros are padded to a Padmé length (Nikitin et al., "Reducing Metadata
// Leakage from Encrypted Files and Communication with PURBs", 2019), at
// least minPadded bytes. Padmé rounds a length L to a multiple of
// 2^(⌊log2 L⌋ − ⌊log2 ⌊log2 L⌋⌋ − 1): at most 12% overhead, and only
// O(log log L) bits of the length leak. So every plaintext under 64 bytes
// looks the same, and e.g. 1,000 and 1,010 bytes do too.
const (
	padMarker = 0x80
	minPadded = 64
)

// paddedLen returns the padded size for n bytes (marker included).
func paddedLen(n int) int {
	if n <= minPadded {
		return minPadded
	}
	e := bits.Len(uint(n)) - 1 // ⌊log2 n⌋
	s := bits.Len(uint(e))     // ⌊log2 e⌋ + 1
	mask := 1<<(e-s) - 1
	return (n + mask) &^ mask
}

// pad returns plaintext ‖ 0x80 ‖ zeros, paddedLen(len(plaintext)+1) bytes.
func pad(plaintext []byte) []byte {
	out := make([]byte, paddedLen(len(plaintext)+1))
	copy(out, plaintext)
	out[len(plaintext)] = padMarker
	return out
}

// unpad strips the padding written by pad. The padded bytes come from an
// authenticated message, so bad padding means a broken or malicious peer.
func unpad(padded []byte) ([]byte, error) {
	i := len(padded) - 1
	for i >= 0 && padded[i] == 0 {
		i--
	}
	if i < 0 || padded[i] != padMarker || len(padded) != paddedLen(i+1) {
		return nil, fmt.Errorf("%w: bad padding", ErrMalformed)
	}
	return padded[:i], nil
}
