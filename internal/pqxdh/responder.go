package pqxdh

import (
	"fmt"

	"parley.dev/internal/addr"
	"parley.dev/internal/keys"
)

// responderState is Bob's side of one handshake, run as named steps.
type responderState struct {
	local     *keys.Identity
	localAddr addr.Address
	header    *Header
	src       PreKeySource

	signed  *keys.SignedPreKey
	oneTime *keys.OneTimePreKey
	kem     *keys.KEMPreKey
	dhs     [][]byte
	ss      []byte
	result  *Result
	used    Used
}

func (hs *responderState) handshake() error {
	for _, step := range []func() error{
		hs.checkAddress,
		hs.loadPreKeys,
		hs.agree,
		hs.decapsulate,
		hs.finish,
	} {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// checkAddress refuses a header addressed to another device or user
// (attack 6), or one that is malformed.
func (hs *responderState) checkAddress() error {
	h := hs.header
	if h == nil || hs.src == nil || hs.local == nil {
		return fmt.Errorf("pqxdh: respond: nil header, prekey source or identity")
	}
	if !hs.localAddr.Valid() {
		return fmt.Errorf("pqxdh: local %w address %q", addr.ErrInvalid, hs.localAddr)
	}
	if h.To != hs.localAddr {
		return fmt.Errorf("%w: to %s, this is %s", ErrWrongRecipient, h.To, hs.localAddr)
	}
	if !h.From.Valid() || h.Identity.IsZero() || h.SignedPreKey == 0 || h.KEMPreKey == 0 ||
		len(h.KEMCiphertext) != keys.KEMCiphertextSize {
		return fmt.Errorf("%w: incomplete header", ErrMalformed)
	}
	if h.From == hs.localAddr {
		return ErrSelf
	}
	return keys.CheckX25519(h.Ephemeral[:])
}

// loadPreKeys finds the prekeys the header names; each must carry the
// requested ID.
func (hs *responderState) loadPreKeys() error {
	h := hs.header
	var err error
	hs.signed, err = hs.src.SignedPreKey(h.SignedPreKey)
	if err != nil || hs.signed == nil || hs.signed.Public().ID != h.SignedPreKey {
		return fmt.Errorf("%w: signed prekey %d: %v", ErrUnknownPreKey, h.SignedPreKey, err)
	}
	if h.OneTimePreKey != 0 {
		hs.oneTime, err = hs.src.OneTimePreKey(h.OneTimePreKey)
		if err != nil || hs.oneTime == nil || hs.oneTime.Public().ID != h.OneTimePreKey {
			return fmt.Errorf("%w: one-time prekey %d: %v", ErrUnknownPreKey, h.OneTimePreKey, err)
		}
		hs.used.OneTimePreKey = h.OneTimePreKey
	}
	hs.kem, err = hs.src.KEMPreKey(h.KEMPreKey)
	if err != nil || hs.kem == nil || hs.kem.Public().ID != h.KEMPreKey {
		return fmt.Errorf("%w: KEM prekey %d: %v", ErrUnknownPreKey, h.KEMPreKey, err)
	}
	if !hs.kem.Public().LastResort {
		hs.used.KEMPreKey = h.KEMPreKey
	}
	return nil
}

// agree computes DH1..DH3 and, with a one-time prekey, DH4, mirroring
// the initiator.
func (hs *responderState) agree() error {
	h := hs.header
	ik, err := h.Identity.DHKey()
	if err != nil {
		return fmt.Errorf("%w: identity: %w", ErrMalformed, err)
	}
	ek, err := keys.NewX25519Public(h.Ephemeral[:])
	if err != nil {
		return fmt.Errorf("%w: ephemeral key: %w", ErrMalformed, err)
	}
	steps := []func() ([]byte, error){
		func() ([]byte, error) { return hs.signed.DH(ik) },  // DH1 = DH(IK_A, SPK_B)
		func() ([]byte, error) { return hs.local.DH(ek) },   // DH2 = DH(EK_A, IK_B)
		func() ([]byte, error) { return hs.signed.DH(ek) },  // DH3 = DH(EK_A, SPK_B)
		func() ([]byte, error) { return hs.oneTime.DH(ek) }, // DH4 = DH(EK_A, OPK_B)
	}
	if hs.oneTime == nil {
		steps = steps[:3]
	}
	for i, step := range steps {
		dh, err := step()
		if err != nil {
			return fmt.Errorf("pqxdh: DH%d: %w", i+1, err)
		}
		hs.dhs = append(hs.dhs, dh)
	}
	return nil
}

func (hs *responderState) decapsulate() error {
	ss, err := hs.kem.Decapsulate(hs.header.KEMCiphertext)
	if err != nil {
		return fmt.Errorf("pqxdh: %w", err)
	}
	hs.ss = ss
	return nil
}

// finish hashes the transcript, rebuilt from the header and the local
// public keys, and derives SK and AD.
func (hs *responderState) finish() error {
	h := hs.header
	t := &transcript{
		from: h.From, to: h.To, initiator: h.Identity, responder: hs.local.Public(),
		signed: hs.signed.Public(), kem: hs.kem.Public(),
		ephemeral: h.Ephemeral[:], ciphertext: h.KEMCiphertext,
	}
	if hs.oneTime != nil {
		p := hs.oneTime.Public()
		t.oneTime = &p
	}
	th, err := t.hash()
	if err != nil {
		return err
	}
	hs.result, err = derive(hs.dhs, hs.ss, th, t)
	return err
}

func (hs *responderState) wipe() {
	for _, dh := range hs.dhs {
		clear(dh)
	}
	clear(hs.ss)
}
