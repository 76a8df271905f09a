package wire

import (
	"golang.org/x/crypto/cryptobyte"

	"parley.dev/internal/addr"
)

// PreKey is one public prekey with its ID and signature (empty for
// one-time X25519 keys, which are unsigned). Public and Signature are the
// internal/keys encodings; the relay checks them before storing.
type PreKey struct {
	ID        uint32
	Public    []byte
	Signature []byte
}

func addPreKey(b *cryptobyte.Builder, k *PreKey) {
	b.AddUint32(k.ID)
	addBytes16(b, k.Public)
	addBytes16(b, k.Signature)
}

func readPreKey(s *cryptobyte.String, k *PreKey) bool {
	return s.ReadUint32(&k.ID) && readBytes16(s, &k.Public, MaxKey, false) &&
		readBytes16(s, &k.Signature, MaxSignature, true)
}

// Flags of a PreKeyUpload.
const (
	uploadSigned     = 1 << 0
	uploadLastResort = 1 << 1
	uploadFlags      = uploadSigned | uploadLastResort
)

// PreKeyUpload is one upload of a device's own prekeys (TypePreKeyUpload).
// Signed and LastResortKEM replace the current ones when set; one-time keys
// are added, at most MaxPreKeysPerUpload of each kind.
type PreKeyUpload struct {
	Signed        *PreKey
	LastResortKEM *PreKey
	OneTimeEC     []PreKey
	OneTimeKEM    []PreKey
}

// Type returns TypePreKeyUpload.
func (*PreKeyUpload) Type() Type { return TypePreKeyUpload }

func (u *PreKeyUpload) appendBody(b *cryptobyte.Builder) {
	var flags uint8
	if u.Signed != nil {
		flags |= uploadSigned
	}
	if u.LastResortKEM != nil {
		flags |= uploadLastResort
	}
	b.AddUint8(flags)
	if u.Signed != nil {
		addPreKey(b, u.Signed)
	}
	if u.LastResortKEM != nil {
		addPreKey(b, u.LastResortKEM)
	}
	addPreKeys(b, u.OneTimeEC)
	addPreKeys(b, u.OneTimeKEM)
}

func addPreKeys(b *cryptobyte.Builder, ks []PreKey) {
	b.AddUint16(uint16(min(len(ks), MaxPreKeysPerUpload+1)))
	for i := range ks {
		addPreKey(b, &ks[i])
	}
}

func (u *PreKeyUpload) parseBody(s *cryptobyte.String) error {
	var flags uint8
	if !s.ReadUint8(&flags) || flags&^uploadFlags != 0 {
		return malformed("prekey upload: flags")
	}
	if flags&uploadSigned != 0 {
		u.Signed = new(PreKey)
		if !readPreKey(s, u.Signed) {
			return malformed("prekey upload: signed prekey")
		}
	}
	if flags&uploadLastResort != 0 {
		u.LastResortKEM = new(PreKey)
		if !readPreKey(s, u.LastResortKEM) {
			return malformed("prekey upload: last-resort prekey")
		}
	}
	var ok bool
	if u.OneTimeEC, ok = readPreKeys(s); !ok {
		return malformed("prekey upload: one-time X25519 prekeys")
	}
	if u.OneTimeKEM, ok = readPreKeys(s); !ok {
		return malformed("prekey upload: one-time ML-KEM prekeys")
	}
	return nil
}

func readPreKeys(s *cryptobyte.String) ([]PreKey, bool) {
	var n uint16
	if !s.ReadUint16(&n) || n > MaxPreKeysPerUpload {
		return nil, false
	}
	if n == 0 {
		return nil, true
	}
	ks := make([]PreKey, n)
	for i := range ks {
		if !readPreKey(s, &ks[i]) {
			return nil, false
		}
	}
	return ks, true
}

// PreKeyStatus tells a device how many one-time prekeys it has left
// (TypePreKeyStatus). The relay answers GET /v1/prekeys with it and pushes
// it over the device's WebSocket when either count falls below LowWater;
// the device should then upload up to Max of each kind.
type PreKeyStatus struct {
	OneTimeEC  uint32
	OneTimeKEM uint32
	LowWater   uint32
	Max        uint32
}

// Type returns TypePreKeyStatus.
func (*PreKeyStatus) Type() Type { return TypePreKeyStatus }

// Low reports whether either count is below the low-water mark.
func (p *PreKeyStatus) Low() bool { return p.OneTimeEC < p.LowWater || p.OneTimeKEM < p.LowWater }

func (p *PreKeyStatus) appendBody(b *cryptobyte.Builder) {
	b.AddUint32(p.OneTimeEC)
	b.AddUint32(p.OneTimeKEM)
	b.AddUint32(p.LowWater)
	b.AddUint32(p.Max)
}

func (p *PreKeyStatus) parseBody(s *cryptobyte.String) error {
	if !s.ReadUint32(&p.OneTimeEC) || !s.ReadUint32(&p.OneTimeKEM) || !s.ReadUint32(&p.LowWater) || !s.ReadUint32(&p.Max) {
		return malformed("prekey status")
	}
	return nil
}

// Bundle is what a sender fetches to start a session with one device
// (TypeBundle). OneTimeEC is nil when the device has run out; KEM is then
// possibly the last-resort key (KEMLastResort). The relay has checked the
// encodings, but a client must verify every signature itself.
type Bundle struct {
	Address       addr.Address
	Identity      []byte
	DeviceKey     []byte
	DeviceCert    []byte
	Signed        PreKey
	OneTimeEC     *PreKey
	KEM           PreKey
	KEMLastResort bool
}

// Type returns TypeBundle.
func (*Bundle) Type() Type { return TypeBundle }

func (u *Bundle) appendBody(b *cryptobyte.Builder) {
	addAddress(b, u.Address)
	addBytes16(b, u.Identity)
	addBytes16(b, u.DeviceKey)
	addBytes16(b, u.DeviceCert)
	addPreKey(b, &u.Signed)
	addBool(b, u.OneTimeEC != nil)
	if u.OneTimeEC != nil {
		addPreKey(b, u.OneTimeEC)
	}
	addPreKey(b, &u.KEM)
	addBool(b, u.KEMLastResort)
}

func (u *Bundle) parseBody(s *cryptobyte.String) error {
	var hasOneTime bool
	switch {
	case !readAddress(s, &u.Address, false):
		return malformed("bundle: address")
	case !readBytes16(s, &u.Identity, MaxKey, false) || !readBytes16(s, &u.DeviceKey, MaxKey, false) ||
		!readBytes16(s, &u.DeviceCert, MaxSignature, false):
		return malformed("bundle: identity")
	case !readPreKey(s, &u.Signed) || !readBool(s, &hasOneTime):
		return malformed("bundle: signed prekey")
	}
	if hasOneTime {
		u.OneTimeEC = new(PreKey)
		if !readPreKey(s, u.OneTimeEC) {
			return malformed("bundle: one-time prekey")
		}
	}
	if !readPreKey(s, &u.KEM) || !readBool(s, &u.KEMLastResort) {
		return malformed("bundle: KEM prekey")
	}
	return nil
}
