package group

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"golang.org/x/crypto/cryptobyte"

	"parley.dev/internal/addr"
	"parley.dev/internal/session"
)

// maxCounter is the largest N a chain uses, as in the ratchet.
const maxCounter = math.MaxUint32 - 1

// SenderChain is this device's sending chain in one group: a chain key
// ratcheted by HMAC after every message and an Ed25519 key that signs
// them. It holds secrets, prints as REDACTED and is not safe for
// concurrent use. Make one with NewSenderChain or UnmarshalSenderChain.
type SenderChain struct {
	group ID
	self  addr.Address
	id    uint32
	epoch uint64 // the epoch it started in
	n     uint32 // the next message's number
	ck    secret
	sign  ed25519.PrivateKey
}

// NewSenderChain starts a fresh chain for device self in state st, with a
// random chain key, signing key and chain ID (other than avoid, the
// previous chain's, if any).
func NewSenderChain(st *State, self addr.Address, avoid uint32) (*SenderChain, error) {
	if !st.IsMember(self.User) {
		return nil, fmt.Errorf("%w: %s in group %s", ErrNotMember, self.User, st.id)
	}
	c := &SenderChain{group: st.id, self: self, epoch: st.epoch, ck: randomSecret()}
	for c.id == 0 || c.id == avoid {
		var b [4]byte
		rand.Read(b[:]) // never fails; see crypto/rand.Read
		c.id = binary.BigEndian.Uint32(b[:])
	}
	_, c.sign, _ = ed25519.GenerateKey(rand.Reader) // never fails with crypto/rand
	return c, nil
}

// ID returns the chain's ID.
func (c *SenderChain) ID() uint32 { return c.id }

// Epoch returns the epoch the chain started in.
func (c *SenderChain) Epoch() uint64 { return c.epoch }

// Iteration returns the number of the chain's next message.
func (c *SenderChain) Iteration() uint32 { return c.n }

// Usable reports whether the chain may send in st: st is its group's, not
// before its start, with no removal since, and its counter not used up.
func (c *SenderChain) Usable(st *State) bool {
	return c != nil && st.id == c.group && c.epoch <= st.epoch && c.epoch >= st.rotation &&
		c.n <= maxCounter && st.IsMember(c.self.User)
}

// Distribution returns the chain from its current iteration on, given in
// state st. Messages sent before cannot be derived from it.
func (c *SenderChain) Distribution(st *State) (*Distribution, error) {
	if !c.Usable(st) {
		return nil, fmt.Errorf("%w: chain %d cannot be given in epoch %d", ErrStaleChain, c.id, st.epoch)
	}
	d := &Distribution{Group: c.group, Epoch: st.epoch, State: st.hash, Sender: c.self, Chain: c.id,
		ChainEpoch: c.epoch, Iteration: c.n, key: c.ck}
	copy(d.signing[:], c.sign.Public().(ed25519.PublicKey))
	return d, nil
}

// Seal encrypts plaintext (at most MaxPlaintextLen bytes) as the chain's
// next message in state st, and signs it. The caller persists the chain
// before sending the message.
func (c *SenderChain) Seal(st *State, plaintext []byte) ([]byte, error) {
	if len(plaintext) > MaxPlaintextLen {
		return nil, fmt.Errorf("%w: plaintext is %d bytes, limit %d", ErrTooLarge, len(plaintext), MaxPlaintextLen)
	}
	if c.n > maxCounter {
		return nil, ErrChainExhausted
	}
	if !c.Usable(st) {
		return nil, fmt.Errorf("%w: chain %d cannot send in epoch %d", ErrStaleChain, c.id, st.epoch)
	}
	var salt [saltSize]byte
	rand.Read(salt[:]) // never fails; see crypto/rand.Read
	header, err := appendHeader(c.group, st, c.self, c.id, c.n, salt[:])
	if err != nil {
		return nil, err
	}
	padded := session.Pad(plaintext)
	defer clear(padded)
	mk, next := chainStep(&c.ck)
	aead, nonce := messageAEAD(&mk, salt[:])
	mk.wipe()
	// Build label ‖ 0x00 ‖ header ‖ ciphertext ‖ signature in one buffer:
	// its prefix is what the signature covers, and the message follows
	// the label.
	ad := messageInput(header)
	buf := make([]byte, len(ad), len(ad)+len(padded)+tagSize+sigSize)
	copy(buf, ad)
	buf = aead.Seal(buf, nonce, padded, ad)
	buf = append(buf, ed25519.Sign(c.sign, buf)...)
	c.ck = next
	c.n++
	return buf[len(labelMessage)+1:], nil
}

// NeedsRotation reports whether a device must start a new chain before
// sending in st: it has none, its chain cannot send in st (a member left
// or was removed since it started), or a device that holds the chain is not
// among the recipients any more (its user left or was removed, or the
// device was revoked). holders and recipients are sets of devices.
func NeedsRotation(c *SenderChain, st *State, holders, recipients map[addr.Address]bool) bool {
	if !c.Usable(st) {
		return true
	}
	for a := range holders {
		if !recipients[a] {
			return true
		}
	}
	return false
}

// Sender chain layout (type 0x81, secret): u8 version, u8 type, 16 group
// ID, sending device (u8-prefixed user ID, u32 device), u32 chain ID, u64
// chain epoch, u32 next N, 32 chain key, 32 Ed25519 seed.

// MarshalBinary returns the chain's encoding. The result is secret.
func (c *SenderChain) MarshalBinary() ([]byte, error) {
	b := cryptobyte.NewBuilder(make([]byte, 0, 128))
	b.AddUint8(Version)
	b.AddUint8(typeSenderChain)
	b.AddBytes(c.group[:])
	addAddress(b, c.self)
	b.AddUint32(c.id)
	b.AddUint64(c.epoch)
	b.AddUint32(c.n)
	b.AddBytes(c.ck[:])
	b.AddBytes(c.sign.Seed())
	return b.Bytes()
}

// UnmarshalSenderChain reads a sender chain encoding.
func UnmarshalSenderChain(data []byte) (*SenderChain, error) {
	s := cryptobyte.String(data)
	if err := readHeader(&s, typeSenderChain, "sender chain"); err != nil {
		return nil, err
	}
	c := &SenderChain{}
	var group, ck, seed []byte
	if !s.ReadBytes(&group, len(c.group)) || !readAddress(&s, &c.self) || !s.ReadUint32(&c.id) ||
		!s.ReadUint64(&c.epoch) || !s.ReadUint32(&c.n) || !s.ReadBytes(&ck, KeySize) ||
		!s.ReadBytes(&seed, seedSize) || !s.Empty() || c.id == 0 {
		return nil, malformed("sender chain")
	}
	copy(c.group[:], group)
	copy(c.ck[:], ck)
	c.sign = ed25519.NewKeyFromSeed(seed)
	return c, nil
}

// Format, String and GoString print REDACTED: a chain holds keys.
func (SenderChain) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }
func (SenderChain) String() string             { return redacted }
func (SenderChain) GoString() string           { return redacted }
