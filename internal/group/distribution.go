package group

import (
	"fmt"
	"io"

	"golang.org/x/crypto/cryptobyte"

	"parley.dev/internal/addr"
	"parley.dev/internal/keys"
)

// Distribution layout (type 0x04; SECRET: it carries a chain key and
// travels only inside a pairwise session):
//
//	u8  version, u8 type 0x04
//	16  group ID
//	u64 epoch it is given in
//	32  hash of that state
//	    sending device: u8-prefixed user ID, u32 device
//	u32 chain ID
//	u64 chain epoch: the epoch the chain started in
//	u32 iteration: the N of the chain's next message
//	32  chain key at that iteration
//	32  Ed25519 public key that signs the chain's messages

// Distribution gives a sender chain, from its current iteration on, to one
// device. It is bound to the state it is given in and the sending device,
// which must be the device whose session carried it. It holds a secret and
// prints as REDACTED.
type Distribution struct {
	Group      ID
	Epoch      uint64
	State      Hash
	Sender     addr.Address
	Chain      uint32
	ChainEpoch uint64
	Iteration  uint32
	key        secret
	signing    [pubSize]byte
}

const distributionLen = 2 + 16 + 8 + KeySize + 4 + 8 + 4 + KeySize + pubSize // without the address

// MarshalBinary returns the encoding. The result is secret.
func (d *Distribution) MarshalBinary() ([]byte, error) {
	b := cryptobyte.NewBuilder(make([]byte, 0, distributionLen+1+addr.MaxUserIDLen+4))
	b.AddUint8(Version)
	b.AddUint8(typeDistribution)
	b.AddBytes(d.Group[:])
	b.AddUint64(d.Epoch)
	b.AddBytes(d.State[:])
	addAddress(b, d.Sender)
	b.AddUint32(d.Chain)
	b.AddUint64(d.ChainEpoch)
	b.AddUint32(d.Iteration)
	b.AddBytes(d.key[:])
	b.AddBytes(d.signing[:])
	return b.Bytes()
}

// ParseDistribution reads a distribution encoding.
func ParseDistribution(b []byte) (*Distribution, error) {
	s := cryptobyte.String(b)
	if err := readHeader(&s, typeDistribution, "distribution"); err != nil {
		return nil, err
	}
	d := &Distribution{}
	var group, state, key, signing []byte
	if !s.ReadBytes(&group, len(d.Group)) || !s.ReadUint64(&d.Epoch) || !s.ReadBytes(&state, KeySize) ||
		!readAddress(&s, &d.Sender) || !s.ReadUint32(&d.Chain) || !s.ReadUint64(&d.ChainEpoch) ||
		!s.ReadUint32(&d.Iteration) || !s.ReadBytes(&key, KeySize) || !s.ReadBytes(&signing, pubSize) || !s.Empty() {
		return nil, malformed("distribution")
	}
	copy(d.Group[:], group)
	copy(d.State[:], state)
	copy(d.key[:], key)
	copy(d.signing[:], signing)
	switch {
	case d.Group.IsZero() || d.Chain == 0 || d.ChainEpoch > d.Epoch || d.Iteration > maxCounter:
		return nil, malformed("distribution fields")
	case d.key.isZero():
		return nil, malformed("distribution: zero chain key")
	}
	if err := keys.CheckEd25519(d.signing[:]); err != nil {
		return nil, fmt.Errorf("%w distribution signing key: %w", ErrMalformed, err)
	}
	return d, nil
}

// Format, String and GoString print REDACTED: a distribution holds a key.
func (Distribution) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }
func (Distribution) String() string             { return redacted }
func (Distribution) GoString() string           { return redacted }
