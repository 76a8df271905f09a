package wire

import (
	"golang.org/x/crypto/cryptobyte"
)

// Frames of the tenant policy (internal/policy; docs/protocol.md, "Tenant
// policy"). The relay stores and serves signed documents it cannot sign;
// clients verify them.
const (
	// TypePolicy: u16-prefixed signed policy document (1..MaxPolicy
	// bytes). The answer to GET PathPolicy.
	TypePolicy Type = 0xC0
)

// Codes of the tenant policy (the workstream's range is 65-69).
const (
	CodeNoPolicy    Code = 65 // the relay has no policy to serve
	CodePolicyStale Code = 66 // a published policy's version is not above the relay's newest
)

// PathPolicy serves the newest policy: GET, no device proof (a device
// needs the policy before it has an account, to check its PIN).
const PathPolicy = "/v1/policy"

// MaxPolicy is the largest signed policy document a frame carries.
const MaxPolicy = 4 << 10

func init() { typeNames[TypePolicy] = "policy" }

// newPolicyFrame returns an empty policy frame of type t, or nil.
func newPolicyFrame(t Type) Frame {
	if t == TypePolicy {
		return new(Policy)
	}
	return nil
}

// Policy carries one signed policy document (TypePolicy). The wire checks
// only its size; internal/policy parses and verifies it.
type Policy struct {
	Doc []byte
}

// Type returns TypePolicy.
func (*Policy) Type() Type { return TypePolicy }

func (f *Policy) appendBody(b *cryptobyte.Builder) { addBytes16(b, f.Doc) }

func (f *Policy) parseBody(s *cryptobyte.String) error {
	if !readBytes16(s, &f.Doc, MaxPolicy, false) {
		return malformed("policy: document")
	}
	return nil
}
