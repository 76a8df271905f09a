package wire

import (
	"golang.org/x/crypto/cryptobyte"
)

// Frames of the relay PIN factor (internal/unlock; docs/protocol.md,
// "Relay PIN factor"). The first three requests come from a device whose
// vault is locked: they are signed by the vault's unlock credential (or
// carry a proof under its verifier), not by the device key. Enrolment,
// activation and retirement are ordinary device-authenticated requests.
// Every field is fixed-size: credential IDs (Ed25519 public keys),
// challenges, elements (ristretto255), verifiers and proofs are 32 bytes,
// signatures 64.
const (
	// TypeUnlockHello: credential (32). Asks for the credential's current
	// challenge.
	TypeUnlockHello Type = 0x50
	// TypeUnlockChallenge: challenge (32) | u32 guesses left | u32 most
	// guesses in a row.
	TypeUnlockChallenge Type = 0x51
	// TypeUnlockEvaluate: credential (32) | challenge (32) | blinded
	// element (32) | Ed25519 signature by the credential (64).
	TypeUnlockEvaluate Type = 0x52
	// TypeUnlockEvaluation: evaluated element (32) | the next challenge
	// (32) | u32 guesses left | u32 most guesses in a row.
	TypeUnlockEvaluation Type = 0x53
	// TypeUnlockConfirm: credential (32) | challenge (32) | proof (32).
	TypeUnlockConfirm Type = 0x54
	// TypeUnlockEnrol: credential (32) | blinded element (32).
	TypeUnlockEnrol Type = 0x55
	// TypeUnlockActivate: credential (32) | verifier (32).
	TypeUnlockActivate Type = 0x56
	// TypeUnlockRetire: bool | [credential (32), if bool]: delete the
	// device's unlock keys other than this one (all of them without one).
	TypeUnlockRetire Type = 0x57
)

// Codes of the relay PIN factor (the workstream's range is 40-49).
const (
	CodeUnlockLocked  Code = 40 // the vault's relay key was destroyed after too many wrong PINs
	CodeUnlockUnknown Code = 41 // no such unlock credential (never enrolled, retired, or the device revoked)
	CodeUnlockStale   Code = 42 // the challenge is not the credential's current one; fetch it again
)

// The unlock endpoints' paths, all POST (docs/protocol.md, "Endpoints").
// Challenge, evaluate and confirm carry no device proof; enrol, activate
// and retire do.
const (
	PathUnlockChallenge = "/v1/unlock/challenge"
	PathUnlockEvaluate  = "/v1/unlock/evaluate"
	PathUnlockConfirm   = "/v1/unlock/confirm"
	PathUnlockEnrol     = "/v1/unlock/enrol"
	PathUnlockActivate  = "/v1/unlock/activate"
	PathUnlockRetire    = "/v1/unlock/retire"
)

func init() {
	for t, n := range map[Type]string{
		TypeUnlockHello: "unlock-hello", TypeUnlockChallenge: "unlock-challenge",
		TypeUnlockEvaluate: "unlock-evaluate", TypeUnlockEvaluation: "unlock-evaluation",
		TypeUnlockConfirm: "unlock-confirm", TypeUnlockEnrol: "unlock-enrol",
		TypeUnlockActivate: "unlock-activate", TypeUnlockRetire: "unlock-retire",
	} {
		typeNames[t] = n
	}
}

// newUnlockFrame returns an empty unlock frame of type t, or nil.
func newUnlockFrame(t Type) Frame {
	switch t {
	case TypeUnlockHello:
		return new(UnlockHello)
	case TypeUnlockChallenge:
		return new(UnlockChallenge)
	case TypeUnlockEvaluate:
		return new(UnlockEvaluate)
	case TypeUnlockEvaluation:
		return new(UnlockEvaluation)
	case TypeUnlockConfirm:
		return new(UnlockConfirm)
	case TypeUnlockEnrol:
		return new(UnlockEnrol)
	case TypeUnlockActivate:
		return new(UnlockActivate)
	case TypeUnlockRetire:
		return new(UnlockRetire)
	}
	return nil
}

// UnlockFieldLen is the size of a credential, challenge, element,
// verifier and proof field.
const UnlockFieldLen = 32

// UnlockSignatureLen is the size of an Ed25519 signature.
const UnlockSignatureLen = 64

// unlockField is one fixed 32-byte field.
type unlockField = [UnlockFieldLen]byte

func readField(s *cryptobyte.String, out *unlockField) bool { return s.CopyBytes(out[:]) }

// UnlockHello asks for a credential's current challenge (TypeUnlockHello).
type UnlockHello struct {
	Credential unlockField
}

// Type returns TypeUnlockHello.
func (*UnlockHello) Type() Type { return TypeUnlockHello }

func (f *UnlockHello) appendBody(b *cryptobyte.Builder) { b.AddBytes(f.Credential[:]) }

func (f *UnlockHello) parseBody(s *cryptobyte.String) error {
	if !readField(s, &f.Credential) {
		return malformed("unlock-hello: credential")
	}
	return nil
}

// UnlockChallenge is a credential's current challenge and how many
// guesses it has left of Max (TypeUnlockChallenge).
type UnlockChallenge struct {
	Challenge unlockField
	Left, Max uint32
}

// Type returns TypeUnlockChallenge.
func (*UnlockChallenge) Type() Type { return TypeUnlockChallenge }

func (f *UnlockChallenge) appendBody(b *cryptobyte.Builder) {
	b.AddBytes(f.Challenge[:])
	b.AddUint32(f.Left)
	b.AddUint32(f.Max)
}

func (f *UnlockChallenge) parseBody(s *cryptobyte.String) error {
	if !readField(s, &f.Challenge) || !s.ReadUint32(&f.Left) || !s.ReadUint32(&f.Max) || f.Left > f.Max {
		return malformed("unlock-challenge")
	}
	return nil
}

// UnlockEvaluate asks the relay to evaluate a blinded element, counting a
// guess (TypeUnlockEvaluate). Signature is the credential's over the
// challenge and the element (unlock.Credential.SignEvaluate).
type UnlockEvaluate struct {
	Credential, Challenge, Blinded unlockField
	Signature                      [UnlockSignatureLen]byte
}

// Type returns TypeUnlockEvaluate.
func (*UnlockEvaluate) Type() Type { return TypeUnlockEvaluate }

func (f *UnlockEvaluate) appendBody(b *cryptobyte.Builder) {
	b.AddBytes(f.Credential[:])
	b.AddBytes(f.Challenge[:])
	b.AddBytes(f.Blinded[:])
	b.AddBytes(f.Signature[:])
}

func (f *UnlockEvaluate) parseBody(s *cryptobyte.String) error {
	if !readField(s, &f.Credential) || !readField(s, &f.Challenge) || !readField(s, &f.Blinded) ||
		!s.CopyBytes(f.Signature[:]) {
		return malformed("unlock-evaluate")
	}
	return nil
}

// UnlockEvaluation is the relay's answer to an evaluation or an enrolment
// (TypeUnlockEvaluation): the evaluated element, the challenge of the
// counter's new state, and the guesses left of Max.
type UnlockEvaluation struct {
	Evaluated, Challenge unlockField
	Left, Max            uint32
}

// Type returns TypeUnlockEvaluation.
func (*UnlockEvaluation) Type() Type { return TypeUnlockEvaluation }

func (f *UnlockEvaluation) appendBody(b *cryptobyte.Builder) {
	b.AddBytes(f.Evaluated[:])
	b.AddBytes(f.Challenge[:])
	b.AddUint32(f.Left)
	b.AddUint32(f.Max)
}

func (f *UnlockEvaluation) parseBody(s *cryptobyte.String) error {
	if !readField(s, &f.Evaluated) || !readField(s, &f.Challenge) || !s.ReadUint32(&f.Left) ||
		!s.ReadUint32(&f.Max) || f.Left > f.Max {
		return malformed("unlock-evaluation")
	}
	return nil
}

// UnlockConfirm proves a successful unlock, which resets the counter
// (TypeUnlockConfirm): Proof is the MAC under the verifier over the
// challenge (unlock.Output.Proof).
type UnlockConfirm struct {
	Credential, Challenge, Proof unlockField
}

// Type returns TypeUnlockConfirm.
func (*UnlockConfirm) Type() Type { return TypeUnlockConfirm }

func (f *UnlockConfirm) appendBody(b *cryptobyte.Builder) {
	b.AddBytes(f.Credential[:])
	b.AddBytes(f.Challenge[:])
	b.AddBytes(f.Proof[:])
}

func (f *UnlockConfirm) parseBody(s *cryptobyte.String) error {
	if !readField(s, &f.Credential) || !readField(s, &f.Challenge) || !readField(s, &f.Proof) {
		return malformed("unlock-confirm")
	}
	return nil
}

// UnlockEnrol asks the relay to make an OPRF key for a new credential of
// the requesting device and to evaluate a first blinded element under it
// (TypeUnlockEnrol). It counts no guess: it is device-authenticated.
type UnlockEnrol struct {
	Credential, Blinded unlockField
}

// Type returns TypeUnlockEnrol.
func (*UnlockEnrol) Type() Type { return TypeUnlockEnrol }

func (f *UnlockEnrol) appendBody(b *cryptobyte.Builder) {
	b.AddBytes(f.Credential[:])
	b.AddBytes(f.Blinded[:])
}

func (f *UnlockEnrol) parseBody(s *cryptobyte.String) error {
	if !readField(s, &f.Credential) || !readField(s, &f.Blinded) {
		return malformed("unlock-enrol")
	}
	return nil
}

// UnlockActivate leaves the relay the verifier of an enrolled credential,
// which makes it usable (TypeUnlockActivate).
type UnlockActivate struct {
	Credential, Verifier unlockField
}

// Type returns TypeUnlockActivate.
func (*UnlockActivate) Type() Type { return TypeUnlockActivate }

func (f *UnlockActivate) appendBody(b *cryptobyte.Builder) {
	b.AddBytes(f.Credential[:])
	b.AddBytes(f.Verifier[:])
}

func (f *UnlockActivate) parseBody(s *cryptobyte.String) error {
	if !readField(s, &f.Credential) || !readField(s, &f.Verifier) {
		return malformed("unlock-activate")
	}
	return nil
}

// UnlockRetire deletes the requesting device's unlock keys other than
// Keep (all of them when Keep is nil) (TypeUnlockRetire).
type UnlockRetire struct {
	Keep *[UnlockFieldLen]byte
}

// Type returns TypeUnlockRetire.
func (*UnlockRetire) Type() Type { return TypeUnlockRetire }

func (f *UnlockRetire) appendBody(b *cryptobyte.Builder) {
	addBool(b, f.Keep != nil)
	if f.Keep != nil {
		b.AddBytes(f.Keep[:])
	}
}

func (f *UnlockRetire) parseBody(s *cryptobyte.String) error {
	var keep bool
	if !readBool(s, &keep) {
		return malformed("unlock-retire: flag")
	}
	f.Keep = nil
	if keep {
		f.Keep = new(unlockField)
		if !readField(s, f.Keep) {
			return malformed("unlock-retire: credential")
		}
	}
	return nil
}
