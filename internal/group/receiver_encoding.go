package group

import (
	"golang.org/x/crypto/cryptobyte"
)

// Receiving chains layout (type 0x82, secret): the chains of one sending
// device, newest first.
//
//	u8 version, u8 type 0x82
//	u8 count ≤ MaxChainsPerSender, then per chain:
//	    16 group ID, sending device (u8-prefixed user ID, u32 device),
//	    u32 chain ID, u64 chain epoch, 32 signing key, u32 next N,
//	    32 chain key, u16 count ≤ MaxSkippedKeys × (u32 N, 32 message key)
//	    in ascending N, each below the next N
//
// Every chain names the same group and device; chain IDs differ.

// MarshalReceiverChains encodes the chains of one sending device. The
// result is secret.
func MarshalReceiverChains(chains []*ReceiverChain) ([]byte, error) {
	var b cryptobyte.Builder
	b.AddUint8(Version)
	b.AddUint8(typeReceiverChains)
	b.AddUint8(uint8(len(chains)))
	for _, rc := range chains {
		b.AddBytes(rc.group[:])
		addAddress(&b, rc.sender)
		b.AddUint32(rc.id)
		b.AddUint64(rc.epoch)
		b.AddBytes(rc.signing[:])
		b.AddUint32(rc.n)
		b.AddBytes(rc.ck[:])
		b.AddUint16(uint16(len(rc.skipped)))
		for _, k := range rc.skipped {
			b.AddUint32(k.n)
			b.AddBytes(k.mk[:])
		}
	}
	return b.Bytes()
}

// UnmarshalReceiverChains reads what MarshalReceiverChains wrote.
func UnmarshalReceiverChains(data []byte) ([]*ReceiverChain, error) {
	s := cryptobyte.String(data)
	if err := readHeader(&s, typeReceiverChains, "receiving chains"); err != nil {
		return nil, err
	}
	var n uint8
	if !s.ReadUint8(&n) || n == 0 || n > MaxChainsPerSender {
		return nil, malformed("receiving chains: count")
	}
	chains := make([]*ReceiverChain, n)
	for i := range chains {
		rc, err := readReceiverChain(&s)
		if err != nil {
			return nil, err
		}
		for _, o := range chains[:i] {
			if o.group != rc.group || o.sender != rc.sender || o.id == rc.id {
				return nil, malformed("receiving chains: mixed or repeated")
			}
		}
		chains[i] = rc
	}
	if !s.Empty() {
		return nil, malformed("receiving chains: trailing bytes")
	}
	return chains, nil
}

func readReceiverChain(s *cryptobyte.String) (*ReceiverChain, error) {
	rc := &ReceiverChain{}
	var group, signing, ck []byte
	var count uint16
	if !s.ReadBytes(&group, len(rc.group)) || !readAddress(s, &rc.sender) || !s.ReadUint32(&rc.id) ||
		!s.ReadUint64(&rc.epoch) || !s.ReadBytes(&signing, pubSize) || !s.ReadUint32(&rc.n) ||
		!s.ReadBytes(&ck, KeySize) || !s.ReadUint16(&count) || count > MaxSkippedKeys || rc.id == 0 {
		return nil, malformed("receiving chain")
	}
	copy(rc.group[:], group)
	copy(rc.signing[:], signing)
	copy(rc.ck[:], ck)
	rc.skipped = make([]skippedKey, count)
	for i := range rc.skipped {
		var mk []byte
		k := &rc.skipped[i]
		if !s.ReadUint32(&k.n) || !s.ReadBytes(&mk, KeySize) || k.n >= rc.n || i > 0 && rc.skipped[i-1].n >= k.n {
			return nil, malformed("receiving chain: skipped keys")
		}
		copy(k.mk[:], mk)
	}
	return rc, nil
}
