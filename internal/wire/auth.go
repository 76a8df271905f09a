package wire

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"time"

	"golang.org/x/crypto/cryptobyte"

	"parley.dev/internal/addr"
)

// Sizes of the authentication fields.
const (
	// ChallengeLen is the size of a relay challenge.
	ChallengeLen = 32
	// SignatureLen is the size of an Ed25519 signature.
	SignatureLen = 64
	// TokenNonceLen is the size of a registration token's nonce.
	TokenNonceLen = 16
)

// Domain-separation labels: each signature Parley's relay checks starts
// with its own label, so no signature can be replayed as another kind.
const (
	// ProofLabel starts the message a device signs to authenticate one
	// request (see ProofMessage).
	ProofLabel = "parley relay proof v1\x00"
	// TokenLabel starts the message a host app's backend signs to mint a
	// registration token (see RegistrationToken.SignedMessage).
	TokenLabel = "parley registration token v1\x00"
)

// AuthScheme is the Authorization header scheme:
// "Authorization: Parley <base64url(Proof frame), unpadded>".
const AuthScheme = "Parley"

// AuthQuery is the URL query parameter that may carry the same base64url
// proof on the WebSocket upgrade, for clients (browsers) that cannot set
// request headers there.
const AuthQuery = "auth"

// QuietAcksQuery is the URL query parameter ("quiet-acks=1") by which a
// client asks, on the WebSocket upgrade, to be told in the Welcome whether
// the relay takes quiet Acks (TypeAckQuiet). A client that does not ask
// gets the Welcome's original layout.
const QuietAcksQuery = "quiet-acks"

// OK is an empty success frame (TypeOK).
type OK struct{}

// Type returns TypeOK.
func (*OK) Type() Type                           { return TypeOK }
func (*OK) appendBody(*cryptobyte.Builder)       {}
func (*OK) parseBody(s *cryptobyte.String) error { return nil }

// Challenge is a fresh single-use value the relay hands out (TypeChallenge)
// for a device to sign; it expires after TTL seconds.
type Challenge struct {
	Nonce [ChallengeLen]byte
	TTL   uint32
}

// Type returns TypeChallenge.
func (*Challenge) Type() Type { return TypeChallenge }

func (c *Challenge) appendBody(b *cryptobyte.Builder) {
	b.AddBytes(c.Nonce[:])
	b.AddUint32(c.TTL)
}

func (c *Challenge) parseBody(s *cryptobyte.String) error {
	if !s.CopyBytes(c.Nonce[:]) || !s.ReadUint32(&c.TTL) {
		return malformed("challenge")
	}
	return nil
}

// Proof authenticates one HTTP request (TypeProof): the device at Address
// signed ProofMessage for a Challenge the relay issued. When registering,
// Address.Device is 0 and the key is the new device's.
type Proof struct {
	Address   addr.Address
	Challenge [ChallengeLen]byte
	Signature [SignatureLen]byte
}

// Type returns TypeProof.
func (*Proof) Type() Type { return TypeProof }

func (p *Proof) appendBody(b *cryptobyte.Builder) {
	addAddress(b, p.Address)
	b.AddBytes(p.Challenge[:])
	b.AddBytes(p.Signature[:])
}

func (p *Proof) parseBody(s *cryptobyte.String) error {
	if !readAddress(s, &p.Address, true) || !s.CopyBytes(p.Challenge[:]) || !s.CopyBytes(p.Signature[:]) {
		return malformed("proof")
	}
	return nil
}

// ProofMessage is what a device signs to authenticate one request:
//
//	ProofLabel | 32-byte challenge | address | u8-prefixed method |
//	u16-prefixed path | SHA-256(body)
//
// path is the URL path without query (for example "/v1/prekeys"); body is
// the request body (empty for none). Binding all of them means a proof
// authorizes exactly one request, once.
func ProofMessage(challenge [ChallengeLen]byte, a addr.Address, method, path string, body []byte) ([]byte, error) {
	b := cryptobyte.NewBuilder(make([]byte, 0, 128+len(path)))
	b.AddBytes([]byte(ProofLabel))
	b.AddBytes(challenge[:])
	addAddress(b, a)
	addString8(b, method)
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(path)) })
	sum := sha256.Sum256(body)
	b.AddBytes(sum[:])
	out, err := b.Bytes()
	if err != nil || !a.User.Valid() {
		return nil, malformed("proof message")
	}
	return out, nil
}

// Authorization returns the Authorization header value carrying p.
func (p *Proof) Authorization() (string, error) {
	enc, err := p.Text()
	if err != nil {
		return "", err
	}
	return AuthScheme + " " + enc, nil
}

// Text returns p as unpadded base64url, the form of the Authorization
// header and of the AuthQuery parameter.
func (p *Proof) Text() (string, error) {
	b, err := Marshal(p)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// maxProofText bounds the base64 text of a proof before decoding.
const maxProofText = 256

// ParseAuthorization reads a proof from an Authorization header value.
func ParseAuthorization(h string) (*Proof, error) {
	scheme, text, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, AuthScheme) {
		return nil, Errorf(CodeUnauthorized, "want Authorization: "+AuthScheme+" <proof>")
	}
	return ParseProofText(text)
}

// ParseProofText reads a proof from its unpadded base64url text.
func ParseProofText(text string) (*Proof, error) {
	if len(text) > maxProofText {
		return nil, malformed("proof too long")
	}
	b, err := base64.RawURLEncoding.DecodeString(text)
	if err != nil {
		return nil, malformed("proof: bad base64url")
	}
	return ParseAs[*Proof](b)
}

// RegistrationToken lets one registration of User proceed until Expires
// (TypeRegistrationToken). A host app's backend signs it with its Ed25519
// key; the relay checks the signature with the matching public key, then
// accepts the token once.
type RegistrationToken struct {
	User      addr.UserID
	Expires   time.Time // whole seconds
	Nonce     [TokenNonceLen]byte
	Signature [SignatureLen]byte
}

// Type returns TypeRegistrationToken.
func (*RegistrationToken) Type() Type { return TypeRegistrationToken }

func (t *RegistrationToken) appendBody(b *cryptobyte.Builder) {
	t.appendSigned(b)
	b.AddBytes(t.Signature[:])
}

func (t *RegistrationToken) appendSigned(b *cryptobyte.Builder) {
	addUser(b, t.User)
	sec := t.Expires.Unix()
	if sec < 0 {
		b.SetError(malformed("token: expiry before 1970"))
	}
	b.AddUint64(uint64(sec))
	b.AddBytes(t.Nonce[:])
}

func (t *RegistrationToken) parseBody(s *cryptobyte.String) error {
	var sec uint64
	if !readUser(s, &t.User) || !s.ReadUint64(&sec) || sec > maxUnixSeconds {
		return malformed("token")
	}
	t.Expires = time.Unix(int64(sec), 0)
	if !s.CopyBytes(t.Nonce[:]) || !s.CopyBytes(t.Signature[:]) {
		return malformed("token")
	}
	return nil
}

// maxUnixSeconds keeps expiry times within what time.Time round-trips.
const maxUnixSeconds = 1 << 40

// SignedMessage is what the backend signs and the relay verifies:
//
//	TokenLabel | u8-prefixed user ID | u64 expiry (Unix seconds) | nonce
func (t *RegistrationToken) SignedMessage() ([]byte, error) {
	b := cryptobyte.NewBuilder([]byte(TokenLabel))
	t.appendSigned(b)
	out, err := b.Bytes()
	if err != nil || !t.User.Valid() {
		return nil, malformed("token")
	}
	return out, nil
}

// ID is SHA-256 of the token's signed message: what a relay records to
// accept the token only once.
func (t *RegistrationToken) ID() ([32]byte, error) {
	m, err := t.SignedMessage()
	if err != nil {
		return [32]byte{}, err
	}
	return sha256.Sum256(m), nil
}

// Text returns the token as unpadded base64url, the form handed to users
// and carried in Register.Token.
func (t *RegistrationToken) Text() (string, error) {
	b, err := Marshal(t)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// ParseTokenText reads a token from its text form. It checks the encoding
// only, not the signature or the expiry.
func ParseTokenText(text string) (*RegistrationToken, error) {
	if len(text) > MaxToken {
		return nil, Errorf(CodeTokenInvalid, "token too long")
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimSpace(text))
	if err != nil {
		return nil, Errorf(CodeTokenInvalid, "token: bad base64url")
	}
	t, err := ParseAs[*RegistrationToken](b)
	if err != nil {
		return nil, Errorf(CodeTokenInvalid, "token: malformed")
	}
	return t, nil
}
