package ratchet

import (
	"crypto/ecdh"
	"errors"
	"fmt"
)

// pending is what a Decrypt would change, computed before anything is
// committed. It holds secrets; wipe it when done.
type pending struct {
	dhStep  bool
	rk      secret       // root key after the receiving half of a DH step
	ckr     secret       // receiving chain key after this message
	nr      uint32       // next N expected after this message
	mk      secret       // this message's key
	skipped []skippedKey // keys passed over in this message's chain, oldest first

	// The rest of a DH step, computed once the message has opened: the
	// keys left in the previous receiving chain, and the sending half.
	oldSkipped []skippedKey
	dhs        *ecdh.PrivateKey
	rk2        secret
	cks        secret
}

func (p *pending) wipe() {
	p.rk.wipe()
	p.ckr.wipe()
	p.mk.wipe()
	p.rk2.wipe()
	p.cks.wipe()
	for _, keys := range [2][]skippedKey{p.skipped, p.oldSkipped} {
		for i := range keys {
			keys[i].mk.wipe()
		}
	}
}

// Decrypt authenticates and decrypts a message made by the peer's Encrypt
// with the same extraAD. It is transactional: on any error the state is
// exactly as before. A message whose key was already used returns
// ErrDuplicate; a header that would skip more than MaxSkip keys returns
// ErrTooFarAhead before any key is derived; a message that does not
// authenticate returns ErrDecrypt; unparsable bytes return ErrMalformed,
// ErrVersion or ErrTooLarge.
//
// A replay from one of the peer's last MaxRemoteKeyHistory sending chains
// is recognized as ErrDuplicate; one from an older chain fails as
// ErrDecrypt.
func (s *State) Decrypt(message, extraAD []byte) ([]byte, error) {
	h, ad, err := s.parse(message, extraAD)
	if err != nil {
		return nil, err
	}
	ct := message[HeaderLen:]
	id := skippedID{dh: h.dh, n: h.n}
	if mk, ok := s.skipped.lookup(id); ok {
		pt, err := open(&mk, &h.salt, ct, ad)
		mk.wipe()
		if err != nil {
			return nil, err
		}
		s.skipped.remove(id)
		return pt, nil
	}
	if s.consumed(&h) {
		return nil, ErrDuplicate
	}
	var p pending
	defer p.wipe()
	if err := s.plan(&p, &h); err != nil {
		return nil, err
	}
	pt, err := open(&p.mk, &h.salt, ct, ad)
	if err != nil {
		return nil, err
	}
	if err := s.finishDHStep(&p, &h); err != nil {
		return nil, err
	}
	s.commit(&p, &h)
	return pt, nil
}

// parse checks sizes and the header and builds the AEAD associated data.
func (s *State) parse(message, extraAD []byte) (header, []byte, error) {
	if s.dhs == nil {
		return header{}, nil, errors.New("ratchet: uninitialized State")
	}
	if len(message) > MaxMessageLen {
		return header{}, nil, fmt.Errorf("%w: message is %d bytes, limit %d", ErrTooLarge, len(message), MaxMessageLen)
	}
	if len(extraAD) > MaxExtraADLen {
		return header{}, nil, fmt.Errorf("%w: extra associated data is %d bytes, limit %d", ErrTooLarge, len(extraAD), MaxExtraADLen)
	}
	h, err := parseHeader(message)
	if err != nil {
		return h, nil, err
	}
	if len(message) < Overhead {
		return h, nil, fmt.Errorf("%w: message is %d bytes, shorter than header and tag (%d)", ErrMalformed, len(message), Overhead)
	}
	return h, associatedData(s.ad, message[:HeaderLen], extraAD), nil
}

// consumed reports whether h names a key that was already used or dropped:
// an earlier N in the current receiving chain, or any N in a chain the
// peer has since replaced (its keys are all either stored or gone).
func (s *State) consumed(h *header) bool {
	if s.hasDHr && h.dh == s.dhr {
		return h.n < s.nr
	}
	return s.history.contains(&h.dh)
}

// plan derives this message's key into p, checking every bound first.
func (s *State) plan(p *pending, h *header) error {
	if !s.hasDHr || h.dh != s.dhr {
		return s.planDHStep(p, h)
	}
	if !s.hasCKr {
		// The initiator's starting state knows the responder's prekey but
		// has no chain for it: the responder never sends under its prekey.
		return fmt.Errorf("%w: no receiving chain for the responder's prekey", ErrDecrypt)
	}
	if h.n-s.nr > MaxSkip { // h.n >= s.nr: consumed() ruled out the rest
		return fmt.Errorf("%w: N %d is %d past the next expected %d", ErrTooFarAhead, h.n, h.n-s.nr, s.nr)
	}
	if h.n > maxCounter {
		return fmt.Errorf("%w: N %d out of range", ErrMalformed, h.n)
	}
	p.skipped = make([]skippedKey, 0, h.n-s.nr)
	ck := s.skip(&p.skipped, s.ckr, s.nr, h.n, &s.dhr)
	p.mk, p.ckr = s.kdfCK(&ck)
	ck.wipe()
	p.nr = h.n + 1
	return nil
}

// planDHStep handles a header carrying a new ratchet key: it derives the
// new receiving chain up to N. The rest of the previous receiving chain (up
// to PN) is stored by finishDHStep, once the message has opened, so that a
// forged message cannot make the receiver walk both chains.
func (s *State) planDHStep(p *pending, h *header) error {
	if old := s.oldChainSkip(h); old > MaxSkip {
		return fmt.Errorf("%w: PN %d is %d past the next expected %d", ErrTooFarAhead, h.pn, old, s.nr)
	}
	if h.n > MaxSkip {
		return fmt.Errorf("%w: N %d in a new chain", ErrTooFarAhead, h.n)
	}
	out, err := dh(s.dhs, &h.dh)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	p.dhStep = true
	p.skipped = make([]skippedKey, 0, h.n)
	var ck secret
	p.rk, ck = kdfRK(&s.rk, &out)
	out.wipe()
	ck = s.skip(&p.skipped, ck, 0, h.n, &h.dh)
	p.mk, p.ckr = s.kdfCK(&ck)
	ck.wipe()
	p.nr = h.n + 1
	return nil
}

// oldChainSkip is how many keys of the current receiving chain a DH step
// to h's key stores: those the peer sent (PN) but we have not received.
func (s *State) oldChainSkip(h *header) uint32 {
	if !s.hasCKr || h.pn <= s.nr {
		return 0
	}
	return h.pn - s.nr
}

// skip appends the message keys from..until-1 of chain ck (the peer's key
// dh) to keys and returns the chain key that derives message until.
func (s *State) skip(keys *[]skippedKey, ck secret, from, until uint32, dh *[KeySize]byte) secret {
	for n := from; n < until; n++ {
		mk, next := s.kdfCK(&ck)
		*keys = append(*keys, skippedKey{id: skippedID{dh: *dh, n: n}, mk: mk})
		ck = next
	}
	return ck
}

// finishDHStep computes the rest of a DH step: the keys left in the
// previous receiving chain, a fresh key pair and the next sending chain. It
// runs only once the message has opened, so a forged message costs neither.
func (s *State) finishDHStep(p *pending, h *header) error {
	if !p.dhStep {
		return nil
	}
	if old := s.oldChainSkip(h); old > 0 {
		p.oldSkipped = make([]skippedKey, 0, old)
		ck := s.skip(&p.oldSkipped, s.ckr, s.nr, h.pn, &s.dhr)
		ck.wipe()
	}
	k, rk, cks, err := s.nextSendingChain(&p.rk, &h.dh)
	if err != nil {
		return err
	}
	p.dhs, p.rk2, p.cks = k, rk, cks
	return nil
}

// commit applies p. Nothing in it can fail.
func (s *State) commit(p *pending, h *header) {
	if p.dhStep {
		if s.hasDHr {
			s.history.push(s.dhr)
		}
		s.dhr, s.hasDHr = h.dh, true
		s.pn, s.ns = s.ns, 0
		s.setSendingKey(p.dhs)
		s.rk = p.rk2
		s.cks, s.hasCKs = p.cks, true
	}
	s.ckr, s.hasCKr = p.ckr, true
	s.nr = p.nr
	s.skipped.add(p.oldSkipped)
	s.skipped.add(p.skipped)
}
