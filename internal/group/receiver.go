package group

import (
	"crypto/ed25519"
	"fmt"
	"io"
	"slices"

	"parley.dev/internal/addr"
	"parley.dev/internal/session"
)

// ReceiverChain opens the messages of one sender chain of one device. It
// holds secrets, prints as REDACTED and is not safe for concurrent use.
// Make one with Accept or UnmarshalReceiverChains.
type ReceiverChain struct {
	group   ID
	sender  addr.Address
	id      uint32
	epoch   uint64 // the epoch the chain started in
	signing [pubSize]byte
	n       uint32 // the next N expected
	ck      secret // derives message n
	skipped []skippedKey
}

// skippedKey is the key of a message not received yet.
type skippedKey struct {
	n  uint32
	mk secret
}

// Accept checks a distribution that the session with device from carried,
// against state st (the one it names) for the device of user self, and
// returns the chain it gives. The distribution must come from its own
// sending device; both users must be members of st; the chain must not
// predate the last removal before st.
func Accept(d *Distribution, from addr.Address, st *State, self addr.UserID) (*ReceiverChain, error) {
	switch {
	case d.Sender != from:
		return nil, fmt.Errorf("%w: distribution of %s's chain sent by %s", ErrUnauthorized, d.Sender, from)
	case st.id != d.Group || st.epoch != d.Epoch || st.hash != d.State:
		return nil, fmt.Errorf("%w: distribution names another state", ErrUnknownState)
	case !st.IsMember(d.Sender.User):
		return nil, fmt.Errorf("%w: sender %s in epoch %d", ErrNotMember, d.Sender.User, st.epoch)
	case !st.IsMember(self):
		return nil, fmt.Errorf("%w: %s in epoch %d", ErrNotMember, self, st.epoch)
	case d.ChainEpoch < st.rotation:
		return nil, fmt.Errorf("%w: chain of epoch %d given after a removal at %d", ErrStaleChain, d.ChainEpoch, st.rotation)
	}
	return &ReceiverChain{group: d.Group, sender: d.Sender, id: d.Chain, epoch: d.ChainEpoch,
		signing: d.signing, n: d.Iteration, ck: d.key}, nil
}

// Sender returns the device that sends on the chain.
func (rc *ReceiverChain) Sender() addr.Address { return rc.sender }

// ID returns the chain's ID.
func (rc *ReceiverChain) ID() uint32 { return rc.id }

// Same reports whether rc and d describe the same chain (ID, start and
// signing key): a second distribution of it changes nothing.
func (rc *ReceiverChain) Same(d *Distribution) bool {
	return rc.group == d.Group && rc.sender == d.Sender && rc.id == d.Chain && rc.epoch == d.ChainEpoch &&
		rc.signing == d.signing
}

// Open authenticates and decrypts m, a message of this chain sent in state
// st, for the device of user self. It is transactional: on any error the
// chain is unchanged. A message whose key is used is ErrDuplicate; one
// that would skip more than MaxSkip keys ErrTooFarAhead; a bad signature or
// ciphertext ErrDecrypt. The signature is checked before any key is
// derived, so a member who holds the chain key but not the signing key
// cannot forge a message, nor make the receiver skip keys.
func (rc *ReceiverChain) Open(m *Message, st *State, self addr.UserID) ([]byte, error) {
	if err := rc.check(m, st, self); err != nil {
		return nil, err
	}
	i, stored := slices.BinarySearchFunc(rc.skipped, m.N, func(k skippedKey, n uint32) int { return cmpU32(k.n, n) })
	if !stored {
		switch {
		case m.N < rc.n:
			return nil, ErrDuplicate
		case m.N-rc.n > MaxSkip:
			return nil, fmt.Errorf("%w: N %d is %d past the next expected %d", ErrTooFarAhead, m.N, m.N-rc.n, rc.n)
		case m.N > maxCounter:
			return nil, malformed("message: N out of range")
		}
	}
	signed := messageInput(m.raw[:len(m.raw)-sigSize])
	if !ed25519.Verify(rc.signing[:], signed, m.sig) {
		return nil, fmt.Errorf("%w: signature", ErrDecrypt)
	}
	if stored {
		pt, err := open(&rc.skipped[i].mk, m)
		if err == nil {
			rc.skipped[i].mk.wipe()
			rc.skipped = slices.Delete(rc.skipped, i, i+1)
		}
		return pt, err
	}
	return rc.openNext(m)
}

// check checks that m belongs to this chain and that st allows it.
func (rc *ReceiverChain) check(m *Message, st *State, self addr.UserID) error {
	switch {
	case m.Group != rc.group || m.Sender != rc.sender || m.Chain != rc.id:
		return fmt.Errorf("%w: message of another chain", ErrNoChain)
	case st.id != m.Group || st.epoch != m.Epoch || st.hash != m.State:
		return fmt.Errorf("%w: message names another state", ErrUnknownState)
	case !st.IsMember(m.Sender.User):
		return fmt.Errorf("%w: sender %s in epoch %d", ErrNotMember, m.Sender.User, st.epoch)
	case !st.IsMember(self):
		return fmt.Errorf("%w: %s in epoch %d", ErrNotMember, self, st.epoch)
	case rc.epoch > st.epoch || rc.epoch < st.rotation:
		return fmt.Errorf("%w: chain of epoch %d used in epoch %d (last removal %d)", ErrStaleChain, rc.epoch, st.epoch, st.rotation)
	}
	return nil
}

// openNext derives the key of m.N ≥ rc.n, opens m and only then commits
// the chain and the keys it skipped.
func (rc *ReceiverChain) openNext(m *Message) ([]byte, error) {
	ck := rc.ck
	var skipped []skippedKey
	for n := rc.n; n < m.N; n++ {
		mk, next := chainStep(&ck)
		skipped = append(skipped, skippedKey{n: n, mk: mk})
		ck = next
	}
	mk, next := chainStep(&ck)
	ck.wipe()
	pt, err := open(&mk, m)
	mk.wipe()
	if err != nil {
		next.wipe()
		for i := range skipped {
			skipped[i].mk.wipe()
		}
		return nil, err
	}
	rc.ck, rc.n = next, m.N+1
	rc.skipped = append(rc.skipped, skipped...)
	if over := len(rc.skipped) - MaxSkippedKeys; over > 0 {
		for i := range over {
			rc.skipped[i].mk.wipe()
		}
		rc.skipped = slices.Delete(rc.skipped, 0, over)
	}
	return pt, nil
}

// open decrypts and unpads m under message key mk.
func open(mk *secret, m *Message) ([]byte, error) {
	aead, nonce := messageAEAD(mk, m.salt)
	padded, err := aead.Open(nil, nonce, m.ct, messageInput(m.header))
	if err != nil {
		return nil, fmt.Errorf("%w: ciphertext", ErrDecrypt)
	}
	pt, err := session.Unpad(padded)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return pt, nil
}

func cmpU32(a, b uint32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Format, String and GoString print REDACTED: a chain holds keys.
func (ReceiverChain) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }
func (ReceiverChain) String() string             { return redacted }
func (ReceiverChain) GoString() string           { return redacted }
