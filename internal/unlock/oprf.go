package unlock

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"

	"github.com/cloudflare/circl/group"
	"github.com/cloudflare/circl/oprf"
)

// Errors callers branch on.
var (
	// ErrElement: an element is not the canonical encoding of a
	// ristretto255 element other than the identity.
	ErrElement = errors.New("unlock: invalid group element")
	// ErrInput: the OPRF input is empty or longer than MaxInput.
	ErrInput = errors.New("unlock: invalid OPRF input")
)

// parseElement decodes a canonical, non-identity element.
func parseElement(e Element) (group.Element, error) {
	el := suite.Group().NewElement()
	if err := el.UnmarshalBinary(e[:]); err != nil || el.IsIdentity() {
		return nil, ErrElement
	}
	return el, nil
}

func encodeElement(el group.Element) (Element, error) {
	var e Element
	b, err := el.MarshalBinaryCompress()
	if err != nil || len(b) != ElementSize {
		return e, ErrElement
	}
	copy(e[:], b)
	return e, nil
}

// Attempt is one blinded OPRF input, waiting for the relay's evaluation.
// It holds the blind and the input, so it is secret: it prints as
// REDACTED. Use it once.
type Attempt struct {
	_    [0]func()
	cred CredentialID
	fin  *oprf.FinalizeData
}

// Blind blinds input (the vault's factor input, derived from the PIN) for
// credential cred, and returns the attempt and the element to send.
func Blind(cred CredentialID, input []byte) (*Attempt, Element, error) {
	return blindWith(cred, input, suite.Group().RandomScalar(rand.Reader))
}

// blindWith blinds with a given scalar (known-answer tests).
func blindWith(cred CredentialID, input []byte, blind group.Scalar) (*Attempt, Element, error) {
	if len(input) == 0 || len(input) > MaxInput {
		return nil, Element{}, ErrInput
	}
	fin, req, err := oprf.NewClient(suite).DeterministicBlind([][]byte{input}, []oprf.Blind{blind})
	if err != nil {
		return nil, Element{}, fmt.Errorf("unlock: blind: %w", err)
	}
	e, err := encodeElement(req.Elements[0])
	if err != nil {
		return nil, Element{}, err
	}
	return &Attempt{cred: cred, fin: fin}, e, nil
}

// Finish unblinds the relay's evaluation into the OPRF output and derives
// the factor secret and the verifier from it. An evaluation that is not a
// valid element fails with ErrElement; one made under another key gives an
// output that simply does not unlock the vault.
func (a *Attempt) Finish(evaluated Element) (*Output, error) {
	y, err := a.finalize(evaluated)
	if err != nil {
		return nil, err
	}
	defer clear(y)
	return newOutput(a.cred, y), nil
}

// finalize returns the OPRF output (RFC 9497's Finalize).
func (a *Attempt) finalize(evaluated Element) ([]byte, error) {
	el, err := parseElement(evaluated)
	if err != nil {
		return nil, err
	}
	outs, err := oprf.NewClient(suite).Finalize(a.fin, &oprf.Evaluation{Elements: []oprf.Evaluated{el}})
	if err != nil {
		return nil, fmt.Errorf("unlock: finalize: %w", err)
	}
	return outs[0], nil
}

func (*Attempt) String() string             { return redacted }
func (*Attempt) GoString() string           { return redacted }
func (*Attempt) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }

// Output is what a finished attempt yields: the factor secret and the
// verifier. It is secret, prints as REDACTED and is incomparable.
type Output struct {
	_        [0]func()
	cred     CredentialID
	secret   [SecretSize]byte
	verifier [VerifierSize]byte
}

// newOutput derives the secret and the verifier from the OPRF output y:
//
//	secret   = HKDF-SHA256(y, salt = none, info = labelSecret || credential, 32)
//	verifier = HKDF-SHA256(y, salt = none, info = labelVerifier || credential, 32)
func newOutput(cred CredentialID, y []byte) *Output {
	return &Output{cred: cred, secret: derive(y, labelSecret, cred), verifier: derive(y, labelVerifier, cred)}
}

// Secret returns a copy of the factor secret, for the vault (which zeroes
// it after use).
func (o *Output) Secret() []byte { return append([]byte(nil), o.secret[:]...) }

// Verifier returns a copy of the verifier, which enrolment leaves with the
// relay.
func (o *Output) Verifier() []byte { return append([]byte(nil), o.verifier[:]...) }

// Proof proves knowledge of the verifier under challenge ch.
func (o *Output) Proof(ch Challenge) Proof { return proof(o.verifier[:], o.cred, ch) }

// Wipe zeroes the secrets; Go cannot promise that no copy remains.
func (o *Output) Wipe() {
	if o != nil {
		clear(o.secret[:])
		clear(o.verifier[:])
	}
}

func (*Output) String() string             { return redacted }
func (*Output) GoString() string           { return redacted }
func (*Output) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }

// Key is one vault's OPRF key, held by the relay only. It prints as
// REDACTED and is incomparable.
type Key struct {
	_ [0]func()
	k *oprf.PrivateKey
}

// KeySize is the size of an encoded Key (a ristretto255 scalar).
const KeySize = 32

// GenerateKey returns a fresh random OPRF key.
func GenerateKey() (*Key, error) {
	k, err := oprf.GenerateKey(suite, rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("unlock: %w", err)
	}
	return &Key{k: k}, nil
}

// ParseKey reads an encoding made by Bytes.
func ParseKey(b []byte) (*Key, error) {
	if len(b) != KeySize {
		return nil, errors.New("unlock: OPRF key is not 32 bytes")
	}
	k := new(oprf.PrivateKey)
	if err := k.UnmarshalBinary(suite, b); err != nil {
		return nil, fmt.Errorf("unlock: OPRF key: %w", err)
	}
	return &Key{k: k}, nil
}

// Bytes returns the key's encoding, for the relay's store.
func (k *Key) Bytes() []byte {
	b, err := k.k.MarshalBinary()
	if err != nil {
		panic("unlock: marshal OPRF key: " + err.Error()) // a scalar always encodes
	}
	return b
}

// Evaluate multiplies a blinded element by the key. An element that is not
// canonical, or is the identity, is refused with ErrElement before any
// work with the key.
func (k *Key) Evaluate(blinded Element) (Element, error) {
	el, err := parseElement(blinded)
	if err != nil {
		return Element{}, err
	}
	ev, err := oprf.NewServer(suite, k.k).Evaluate(&oprf.EvaluationRequest{Elements: []oprf.Blinded{el}})
	if err != nil {
		return Element{}, fmt.Errorf("unlock: evaluate: %w", err)
	}
	return encodeElement(ev.Elements[0])
}

func (*Key) String() string             { return redacted }
func (*Key) GoString() string           { return redacted }
func (*Key) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }
