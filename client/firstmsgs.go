package client

import (
	"errors"
	"slices"

	"golang.org/x/crypto/cryptobyte"

	"parley.dev/internal/addr"
	"parley.dev/internal/keys"
	"parley.dev/internal/pqxdh"
	"parley.dev/internal/vault"
)

// Replayed first messages (attack 2). A first message (session.TypePreKey)
// whose session is still listed reaches it by base key, and the ratchet
// calls a replay a duplicate. But a session leaves the list (at most
// maxSessionsPerDevice per remote device), and the relay can hold a copy
// of its first message until then: session.Respond would start it again
// for as long as this device keeps the prekeys it names, which for a
// first message that used no one-time prekey are the signed and
// last-resort prekeys, kept for weeks. So this device remembers, per
// remote device and outside the session list, the base keys of the first
// messages it accepted, and refuses one it has seen before anything else
// happens: nothing is stored, nothing evicted, and the delivery is
// acknowledged as a duplicate (or, if its message ID is not stored, as a
// message lost: a later message of a session that left the list).
//
// Lifetime: an entry is kept while the signed prekey its first message
// named is kept (current for signedPreKeyLifetime, then preKeyGrace: 38
// days at most). After that a replay cannot be accepted anyway: Respond
// fails for want of the signed prekey's secret. Entries naming a signed
// prekey this device no longer holds are pruned.
//
// Bound: at most maxAcceptedPerDevice entries per remote device. When full,
// the oldest entry whose first message consumed a one-time prekey is
// forgotten: its replay fails regardless, since that one-time secret was
// deleted. If every entry rests on the signed and last-resort prekeys
// alone, further first messages from that device are refused (reported
// as unreadable) until entries age out with their signed prekeys. Only a
// device that starts that many sessions with this one within weeks, while
// this device has no one-time prekeys left, can get there, and it only
// shuts out itself: a relay cannot forge first messages, only replay them.
const (
	// maxAcceptedPerDevice bounds the first messages remembered per
	// remote device.
	maxAcceptedPerDevice = 64
	// acceptedVersion is the first byte of a stored record.
	acceptedVersion = 1
	// acceptedOneTime flags an entry whose first message consumed a
	// one-time prekey.
	acceptedOneTime = 0x01
	// nsAccepted holds one record per remote device (key "user/device").
	nsAccepted = "firstmsgs"
)

var (
	errReplayedFirst = errors.New("client: a session's first message seen before")
	errTooManyFirst  = errors.New("client: too many new sessions from this device; refused until older ones age out")
)

// acceptedFirst is one first message accepted from a remote device.
type acceptedFirst struct {
	signed  keys.PreKeyID
	oneTime bool
	base    [keys.X25519Size]byte
}

// acceptedList is a remote device's accepted first messages, oldest first.
type acceptedList []acceptedFirst

// loadAccepted reads the first messages accepted from device a, keeping
// only those whose signed prekey this device still holds.
func loadAccepted(tx *vault.Tx, a addr.Address) (acceptedList, error) {
	b, err := tx.Get(nsAccepted, a.String())
	if notFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	l, err := unmarshalAccepted(b)
	if err != nil {
		return nil, err
	}
	kept, err := keptSignedPreKeys(tx)
	if err != nil {
		return nil, err
	}
	return l.prune(kept), nil
}

// unmarshalAccepted reads u8 version, u8 count, count × (u32 signed
// prekey ID, u8 flags, 32-byte base key).
func unmarshalAccepted(b []byte) (acceptedList, error) {
	s := cryptobyte.String(b)
	var version, n uint8
	if !s.ReadUint8(&version) || version != acceptedVersion || !s.ReadUint8(&n) || n > maxAcceptedPerDevice {
		return nil, errors.New("client: malformed first-message record")
	}
	l := make(acceptedList, n)
	for i := range l {
		var spk uint32
		var flags uint8
		var base []byte
		if !s.ReadUint32(&spk) || !s.ReadUint8(&flags) || flags&^acceptedOneTime != 0 || !s.ReadBytes(&base, keys.X25519Size) {
			return nil, errors.New("client: malformed first-message record")
		}
		l[i] = acceptedFirst{signed: keys.PreKeyID(spk), oneTime: flags != 0}
		copy(l[i].base[:], base)
	}
	if !s.Empty() {
		return nil, errors.New("client: malformed first-message record")
	}
	return l, nil
}

func (l acceptedList) save(tx *vault.Tx, a addr.Address) error {
	if len(l) == 0 {
		return tx.Delete(nsAccepted, a.String())
	}
	data, err := l.marshal()
	if err != nil {
		return err
	}
	return tx.Put(nsAccepted, a.String(), data)
}

func (l acceptedList) marshal() ([]byte, error) {
	var b cryptobyte.Builder
	b.AddUint8(acceptedVersion)
	b.AddUint8(uint8(len(l)))
	for _, e := range l {
		b.AddUint32(uint32(e.signed))
		var flags uint8
		if e.oneTime {
			flags = acceptedOneTime
		}
		b.AddUint8(flags)
		b.AddBytes(e.base[:])
	}
	return b.Bytes()
}

// has reports whether a first message with base key bk was accepted.
func (l acceptedList) has(bk [keys.X25519Size]byte) bool {
	return slices.ContainsFunc(l, func(e acceptedFirst) bool { return e.base == bk })
}

// prune drops entries whose signed prekey is no longer kept.
func (l acceptedList) prune(kept map[keys.PreKeyID]bool) acceptedList {
	return slices.DeleteFunc(l, func(e acceptedFirst) bool { return !kept[e.signed] })
}

// room reports whether another entry fits, evicting one if need be.
func (l acceptedList) room() bool {
	return len(l) < maxAcceptedPerDevice || slices.ContainsFunc(l, func(e acceptedFirst) bool { return e.oneTime })
}

// with returns the list with e added, the oldest one-time entry evicted
// if it is full. The caller checked room.
func (l acceptedList) with(e acceptedFirst) acceptedList {
	if len(l) >= maxAcceptedPerDevice {
		i := slices.IndexFunc(l, func(e acceptedFirst) bool { return e.oneTime })
		l = slices.Delete(l, i, i+1)
	}
	return append(l, e)
}

// checkFirst refuses a first message with base key bk from device a that
// was accepted before (a duplicate), or that would not fit the record.
func checkFirst(tx *vault.Tx, a addr.Address, bk [keys.X25519Size]byte) error {
	l, err := loadAccepted(tx, a)
	switch {
	case err != nil:
		return err
	case l.has(bk):
		return &dropError{err: errReplayedFirst, keyGone: true}
	case !l.room():
		return &dropError{err: errTooManyFirst}
	}
	return nil
}

// rememberFirst records a first message from device a, accepted under
// signed prekey spk with base key bk and consuming the one-time prekeys
// in used.
func rememberFirst(tx *vault.Tx, a addr.Address, spk keys.PreKeyID, bk [keys.X25519Size]byte, used pqxdh.Used) error {
	l, err := loadAccepted(tx, a)
	if err != nil {
		return err
	}
	oneTime := used.OneTimePreKey != 0 || used.KEMPreKey != 0
	return l.with(acceptedFirst{signed: spk, oneTime: oneTime, base: bk}).save(tx, a)
}

// pruneAccepted drops, from every device's record, the entries whose
// signed prekey is no longer kept: run after retired prekeys are deleted.
func pruneAccepted(tx *vault.Tx) error {
	recs, err := tx.List(nsAccepted)
	if err != nil {
		return err
	}
	kept, err := keptSignedPreKeys(tx)
	if err != nil {
		return err
	}
	for _, r := range recs {
		l, err := unmarshalAccepted(r.Value)
		if err != nil {
			return err
		}
		n := len(l)
		if l = l.prune(kept); len(l) == n {
			continue
		}
		a, err := addr.ParseAddress(r.Key)
		if err != nil {
			return err
		}
		if err := l.save(tx, a); err != nil {
			return err
		}
	}
	return nil
}

// keptSignedPreKeys returns the IDs of the signed prekeys this device
// holds.
func keptSignedPreKeys(tx *vault.Tx) (map[keys.PreKeyID]bool, error) {
	m, err := loadPreKeyMeta(tx)
	if err != nil {
		return nil, err
	}
	kept := make(map[keys.PreKeyID]bool, len(m.Signed))
	for _, e := range m.Signed {
		kept[keys.PreKeyID(e.ID)] = true
	}
	return kept, nil
}
