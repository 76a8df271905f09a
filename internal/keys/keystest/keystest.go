// Package keystest builds deterministic keys, devices and prekey bundles for
// tests: the same name always gives the same keys, so tests and known-answer
// vectors do not depend on randomness. Never use it outside tests.
package keystest

import (
	"crypto/sha512"
	"encoding/binary"
	"fmt"

	"parley.dev/internal/addr"
	"parley.dev/internal/keys"
)

// Counts of prekeys NewDevice creates.
const (
	// OneTimeKeys is how many one-time keys of each kind a Device has,
	// with IDs 1..OneTimeKeys.
	OneTimeKeys = 4
	// SignedPreKeyID is the ID of a Device's signed prekey.
	SignedPreKeyID keys.PreKeyID = 1
	// LastResortID is the ID of a Device's last-resort KEM prekey.
	LastResortID keys.PreKeyID = 1000
)

// Seed returns n deterministic bytes for name and label (SHA-512 based).
func Seed(name, label string, n int) []byte {
	var out []byte
	for i := uint32(0); len(out) < n; i++ {
		h := sha512.New()
		h.Write([]byte("parley keystest\x00" + label + "\x00" + name + "\x00"))
		h.Write(binary.BigEndian.AppendUint32(nil, i))
		out = h.Sum(out)
	}
	return out[:n]
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Sprintf("keystest: %v", err))
	}
	return v
}

// Identity returns the deterministic identity named name.
func Identity(name string) *keys.Identity {
	return must(keys.NewIdentity(Seed(name, "identity-sign", 32), Seed(name, "identity-dh", 32)))
}

// Device is one device with all its secrets, built deterministically. It
// is not safe for concurrent use (its prekey maps change on Delete).
type Device struct {
	Addr       addr.Address
	Identity   *keys.Identity
	Key        *keys.DeviceKey
	Cert       []byte
	Signed     *keys.SignedPreKey
	SignedSig  []byte
	OneTime    map[keys.PreKeyID]*keys.OneTimePreKey
	KEM        map[keys.PreKeyID]*keys.KEMPreKey // one-time KEM keys
	KEMSigs    map[keys.PreKeyID][]byte
	LastResort *keys.KEMPreKey
	LastSig    []byte
}

// NewDevice returns the deterministic device at a: its identity is
// Identity(a.User), its other keys derive from a's text form.
func NewDevice(a addr.Address) *Device {
	name := a.String()
	id := Identity(string(a.User))
	d := &Device{Addr: a, Identity: id,
		Key:     must(keys.NewDeviceKey(Seed(name, "device", 32))),
		Signed:  must(keys.NewSignedPreKey(SignedPreKeyID, Seed(name, "signed", 32))),
		OneTime: map[keys.PreKeyID]*keys.OneTimePreKey{},
		KEM:     map[keys.PreKeyID]*keys.KEMPreKey{},
		KEMSigs: map[keys.PreKeyID][]byte{},
	}
	d.Cert = must(id.SignDeviceCert(a.User, d.Key.Public()))
	d.SignedSig = must(id.SignSignedPreKey(a, d.Signed.Public()))
	for i := keys.PreKeyID(1); i <= OneTimeKeys; i++ {
		label := fmt.Sprintf("%d", i)
		d.OneTime[i] = must(keys.NewOneTimePreKey(i, Seed(name, "onetime"+label, 32)))
		d.KEM[i] = must(keys.NewKEMPreKey(i, false, Seed(name, "kem"+label, 64)))
		d.KEMSigs[i] = must(id.SignKEMPreKey(a, d.KEM[i].Public()))
	}
	d.LastResort = must(keys.NewKEMPreKey(LastResortID, true, Seed(name, "lastresort", 64)))
	d.LastSig = must(id.SignKEMPreKey(a, d.LastResort.Public()))
	return d
}

// Bundle returns a bundle for d with one-time key otk (0 for none) and KEM
// key kem (a one-time ID, or LastResortID). It panics on an unknown ID.
func (d *Device) Bundle(otk, kem keys.PreKeyID) *keys.Bundle {
	b := &keys.Bundle{
		Address: d.Addr, Identity: d.Identity.Public(),
		Device: d.Key.Public(), DeviceCert: d.Cert,
		SignedPreKey: d.Signed.Public(), SignedPreKeySig: d.SignedSig,
	}
	if otk != 0 {
		p := d.OneTime[otk].Public()
		b.OneTimePreKey = &p
	}
	if kem == LastResortID {
		b.KEMPreKey, b.KEMPreKeySig = d.LastResort.Public(), d.LastSig
	} else {
		b.KEMPreKey, b.KEMPreKeySig = d.KEM[kem].Public(), d.KEMSigs[kem]
	}
	return b
}

// SignedPreKey returns the signed prekey with the given ID.
func (d *Device) SignedPreKey(id keys.PreKeyID) (*keys.SignedPreKey, error) {
	if d.Signed == nil || d.Signed.Public().ID != id {
		return nil, fmt.Errorf("keystest: no signed prekey %d", id)
	}
	return d.Signed, nil
}

// OneTimePreKey returns the one-time prekey with the given ID.
func (d *Device) OneTimePreKey(id keys.PreKeyID) (*keys.OneTimePreKey, error) {
	k, ok := d.OneTime[id]
	if !ok {
		return nil, fmt.Errorf("keystest: no one-time prekey %d", id)
	}
	return k, nil
}

// KEMPreKey returns the one-time or last-resort KEM prekey with the ID.
func (d *Device) KEMPreKey(id keys.PreKeyID) (*keys.KEMPreKey, error) {
	if id == LastResortID {
		return d.LastResort, nil
	}
	k, ok := d.KEM[id]
	if !ok {
		return nil, fmt.Errorf("keystest: no KEM prekey %d", id)
	}
	return k, nil
}

// Delete removes the one-time EC and KEM prekeys with the given IDs (0 or
// LastResortID: nothing), as a device does once a session started.
func (d *Device) Delete(oneTime, kem keys.PreKeyID) {
	delete(d.OneTime, oneTime)
	if kem != LastResortID {
		delete(d.KEM, kem)
	}
}
