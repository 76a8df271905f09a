package server

import (
	"parley.dev/internal/addr"
	"parley.dev/internal/keys"
	"parley.dev/internal/store"
	"parley.dev/internal/wire"
)

// checkUpload parses every prekey of an upload with internal/keys and
// verifies its signature under the uploader's identity, as a prekey of
// the uploading device dev: the relay stores
// no key a client would refuse. IDs must match the encodings, be nonzero
// and be unique within the upload; KEM keys must be in their role
// (last-resort or one-time); one-time X25519 keys carry no signature.
func checkUpload(id keys.IdentityPublic, dev addr.Address, m *wire.PreKeyUpload) (store.PreKeyUpload, *wire.Error) {
	var up store.PreKeyUpload
	if m.Signed != nil {
		if !checkSigned(id, dev, m.Signed) {
			return up, badPreKey("signed prekey")
		}
		up.Signed = storePreKey(m.Signed)
	}
	if m.LastResortKEM != nil {
		if !checkKEM(id, dev, m.LastResortKEM, true) {
			return up, badPreKey("last-resort prekey")
		}
		up.LastResortKEM = storePreKey(m.LastResortKEM)
	}
	seen := make(map[uint32]bool)
	for i := range m.OneTimeEC {
		k := &m.OneTimeEC[i]
		if seen[k.ID] || !checkOneTime(k) {
			return up, badPreKey("one-time X25519 prekey")
		}
		seen[k.ID] = true
		up.OneTimeEC = append(up.OneTimeEC, *storePreKey(k))
	}
	clear(seen)
	for i := range m.OneTimeKEM {
		k := &m.OneTimeKEM[i]
		if seen[k.ID] || !checkKEM(id, dev, k, false) {
			return up, badPreKey("one-time ML-KEM prekey")
		}
		seen[k.ID] = true
		up.OneTimeKEM = append(up.OneTimeKEM, *storePreKey(k))
	}
	return up, nil
}

func badPreKey(what string) *wire.Error {
	return wire.Errorf(wire.CodeBadKey, what+": malformed, mislabelled or badly signed")
}

func checkSigned(id keys.IdentityPublic, dev addr.Address, p *wire.PreKey) bool {
	k, err := keys.ParseSignedPreKeyPublic(p.Public)
	return err == nil && p.ID != 0 && uint32(k.ID) == p.ID && id.VerifySignedPreKey(dev, k, p.Signature) == nil
}

func checkKEM(id keys.IdentityPublic, dev addr.Address, p *wire.PreKey, lastResort bool) bool {
	k, err := keys.ParseKEMPreKeyPublic(p.Public)
	return err == nil && p.ID != 0 && uint32(k.ID) == p.ID && k.LastResort == lastResort &&
		id.VerifyKEMPreKey(dev, k, p.Signature) == nil
}

func checkOneTime(p *wire.PreKey) bool {
	k, err := keys.ParseOneTimePreKeyPublic(p.Public)
	return err == nil && p.ID != 0 && uint32(k.ID) == p.ID && len(p.Signature) == 0
}

func storePreKey(p *wire.PreKey) *store.PreKey {
	return &store.PreKey{ID: p.ID, Public: p.Public, Signature: p.Signature}
}
