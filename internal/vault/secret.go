package vault

import "fmt"

// secret holds key material. It never prints (every fmt verb shows
// REDACTED) and is incomparable. wipe zeroes it; Go cannot promise that no
// other copy exists (see docs/threat-model.md).
type secret struct {
	_ [0]func() // incomparable
	b []byte
}

func newSecret(b []byte) *secret { return &secret{b: b} }

// bytes returns the key material itself; callers must not retain it past
// the secret's life.
func (s *secret) bytes() []byte { return s.b }

// wipe zeroes the key material.
func (s *secret) wipe() {
	if s != nil {
		clear(s.b)
	}
}

const redacted = "REDACTED"

func (s *secret) String() string             { return redacted }
func (s *secret) GoString() string           { return redacted }
func (s *secret) Format(f fmt.State, _ rune) { fmt.Fprint(f, redacted) }
