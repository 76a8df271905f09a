package keys

import (
	"crypto/ed25519"
	"fmt"
)

// sigGroupChange labels an identity's signature over a group membership
// change (internal/group), so that it never verifies as any other kind of
// signature, nor another kind as it.
const sigGroupChange = "parley.dev/v1 group-change"

// SignGroupChange signs the encoding of a group membership change (every
// byte before its signature), as internal/group lays it out.
func (id *Identity) SignGroupChange(change []byte) []byte {
	return ed25519.Sign(id.sign, signed(sigGroupChange, change))
}

// VerifyGroupChange checks sig, made by SignGroupChange, over change.
// Errors wrap ErrBadSignature.
func (p IdentityPublic) VerifyGroupChange(change, sig []byte) error {
	if len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("%w: group change signature is %d bytes", ErrBadSignature, len(sig))
	}
	return p.verify(signed(sigGroupChange, change), sig, "group change")
}
