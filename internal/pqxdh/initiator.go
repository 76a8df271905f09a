package pqxdh

import (
	"crypto/ecdh"
	"fmt"

	"parley.dev/internal/addr"
	"parley.dev/internal/keys"
)

// initiatorState is Alice's side of one handshake, run as named steps.
type initiatorState struct {
	local     *keys.Identity
	localAddr addr.Address
	bundle    *keys.Bundle
	entropy   entropy

	ephemeral *ecdh.PrivateKey
	dhs       [][]byte // DH1..DH4
	ss        []byte   // KEM shared secret
	header    Header
	result    *Result
}

func (hs *initiatorState) handshake() error {
	for _, step := range []func() error{
		hs.verifyBundle,
		hs.generateEphemeral,
		hs.agree,
		hs.encapsulate,
		hs.finish,
	} {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// verifyBundle checks the bundle's certificate, signatures and keys, and
// refuses a bundle without a KEM prekey (attacks 4, 8, 10).
func (hs *initiatorState) verifyBundle() error {
	if hs.bundle == nil || hs.local == nil {
		return fmt.Errorf("pqxdh: initiate: nil bundle or identity")
	}
	if !hs.localAddr.Valid() {
		return fmt.Errorf("pqxdh: local %w address %q", addr.ErrInvalid, hs.localAddr)
	}
	if err := hs.bundle.Verify(); err != nil {
		return fmt.Errorf("%w: %w", ErrBundle, err)
	}
	if hs.bundle.Address == hs.localAddr {
		return ErrSelf
	}
	return nil
}

func (hs *initiatorState) generateEphemeral() error {
	k, err := hs.entropy.ephemeral()
	if err != nil {
		return fmt.Errorf("pqxdh: ephemeral key: %w", err)
	}
	if err := keys.CheckX25519(k.PublicKey().Bytes()); err != nil {
		return fmt.Errorf("pqxdh: ephemeral key: %w", err)
	}
	hs.ephemeral = k
	return nil
}

// agree computes DH1..DH3 and, with a one-time prekey, DH4. Every DH
// rejects an all-zero output.
func (hs *initiatorState) agree() error {
	b := hs.bundle
	ik, err := b.Identity.DHKey()
	if err != nil {
		return fmt.Errorf("%w: identity: %w", ErrBundle, err)
	}
	spk, err := b.SignedPreKey.Key()
	if err != nil {
		return fmt.Errorf("%w: signed prekey: %w", ErrBundle, err)
	}
	dh1, err := hs.local.DH(spk)
	if err != nil {
		return fmt.Errorf("pqxdh: DH1: %w", err)
	}
	hs.dhs = append(hs.dhs, dh1)
	remotes := []*ecdh.PublicKey{ik, spk}
	if b.OneTimePreKey != nil {
		otk, err := b.OneTimePreKey.Key()
		if err != nil {
			return fmt.Errorf("%w: one-time prekey: %w", ErrBundle, err)
		}
		remotes = append(remotes, otk)
	}
	for i, r := range remotes {
		dh, err := hs.ephemeral.ECDH(r)
		if err != nil {
			return fmt.Errorf("pqxdh: DH%d: %w: %v", i+2, keys.ErrWeakKey, err)
		}
		hs.dhs = append(hs.dhs, dh)
	}
	return nil
}

func (hs *initiatorState) encapsulate() error {
	ek, err := hs.bundle.KEMPreKey.EncapsulationKey()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBundle, err)
	}
	ss, ct, err := hs.entropy.encapsulate(ek)
	if err != nil {
		return fmt.Errorf("pqxdh: encapsulate: %w", err)
	}
	hs.ss = ss
	hs.header.KEMCiphertext = ct
	return nil
}

// finish builds the header, hashes the transcript and derives SK and AD.
func (hs *initiatorState) finish() error {
	b := hs.bundle
	h := &hs.header
	h.From, h.To = hs.localAddr, b.Address
	h.Identity = hs.local.Public()
	copy(h.Ephemeral[:], hs.ephemeral.PublicKey().Bytes())
	h.SignedPreKey, h.KEMPreKey = b.SignedPreKey.ID, b.KEMPreKey.ID
	if b.OneTimePreKey != nil {
		h.OneTimePreKey = b.OneTimePreKey.ID
	}
	t := &transcript{
		from: h.From, to: h.To, initiator: h.Identity, responder: b.Identity,
		signed: b.SignedPreKey, oneTime: b.OneTimePreKey, kem: b.KEMPreKey,
		ephemeral: h.Ephemeral[:], ciphertext: h.KEMCiphertext,
	}
	th, err := t.hash()
	if err != nil {
		return err
	}
	hs.result, err = derive(hs.dhs, hs.ss, th, t)
	return err
}

// wipe zeroes the transient secrets (the ephemeral private key lives in
// crypto/ecdh and is dropped, not zeroed).
func (hs *initiatorState) wipe() {
	for _, dh := range hs.dhs {
		clear(dh)
	}
	clear(hs.ss)
	hs.ephemeral = nil
}
