package group

import (
	"fmt"

	"golang.org/x/crypto/cryptobyte"
)

// Log layout (type 0x06; public data, kept in the device's vault):
//
//	u8  version, u8 type 0x06
//	u24-prefixed base state
//	u8  create present (0 or 1) [u24-prefixed create: the base's]
//	u16 count × u24-prefixed change, in the order they were applied
//	32  head hash
//	u16 count × u24-prefixed waiting change, oldest first
//
// UnmarshalLog applies every change again (verifying its signature), so a
// stored log is checked as a received one is.

// MarshalBinary returns the log's encoding.
func (l *Log) MarshalBinary() ([]byte, error) {
	var b cryptobyte.Builder
	b.AddUint8(Version)
	b.AddUint8(typeLog)
	addU24(&b, l.base.enc)
	if l.baseChange != nil {
		b.AddUint8(1)
		addU24(&b, l.baseChange.enc)
	} else {
		b.AddUint8(0)
	}
	addChanges(&b, l.changes)
	b.AddBytes(l.head.hash[:])
	addChanges(&b, l.pending)
	return b.Bytes()
}

func addChanges(b *cryptobyte.Builder, cs []*Change) {
	b.AddUint16(uint16(len(cs)))
	for _, c := range cs {
		addU24(b, c.enc)
	}
}

// UnmarshalLog reads a log encoding.
func UnmarshalLog(data []byte) (*Log, error) {
	s := cryptobyte.String(data)
	if err := readHeader(&s, typeLog, "log"); err != nil {
		return nil, err
	}
	ids := identities{}
	var sb []byte
	if !readU24(&s, &sb) {
		return nil, malformed("log base")
	}
	base, err := parseState(sb, ids)
	if err != nil {
		return nil, err
	}
	l := newLog(base)
	if err := l.readBaseChange(&s, ids); err != nil {
		return nil, err
	}
	changes, err := readChanges(&s, ids, MaxKeptStates*maxSiblings)
	if err != nil {
		return nil, err
	}
	for _, c := range changes {
		if err := l.replay(c); err != nil {
			return nil, err
		}
	}
	var head []byte
	if !s.ReadBytes(&head, KeySize) {
		return nil, malformed("log head")
	}
	if l.head = l.states[Hash(head)]; l.head == nil {
		return nil, malformed("log: head is not a state of the log")
	}
	if l.pending, err = readChanges(&s, ids, MaxPendingChanges); err != nil {
		return nil, err
	}
	if !s.Empty() {
		return nil, malformed("log: trailing bytes")
	}
	return l, nil
}

func (l *Log) readBaseChange(s *cryptobyte.String, ids identities) error {
	var has uint8
	if !s.ReadUint8(&has) || has > 1 {
		return malformed("log create")
	}
	if has == 0 {
		return nil
	}
	var cb []byte
	if !readU24(s, &cb) {
		return malformed("log create")
	}
	c, err := parseChange(cb, ids)
	if err != nil {
		return err
	}
	st, err := Genesis(c)
	if err != nil || st.hash != l.base.hash {
		return malformed("log: create does not lead to the base")
	}
	l.baseChange = c
	l.producer[st.hash] = c
	l.digests[c.digest] = true
	return nil
}

// replay applies a stored change to its parent.
func (l *Log) replay(c *Change) error {
	parent := l.states[c.prev]
	if parent == nil || l.digests[c.digest] {
		return malformed("log: a change does not follow a state of the log")
	}
	st, err := parent.Apply(c)
	if err != nil {
		return fmt.Errorf("group: stored log: %w", err)
	}
	if l.states[st.hash] != nil {
		return malformed("log: two changes lead to one state")
	}
	l.add(c, st)
	return nil
}

func readChanges(s *cryptobyte.String, ids identities, limit int) ([]*Change, error) {
	var n uint16
	if !s.ReadUint16(&n) || int(n) > limit {
		return nil, malformed("log change count")
	}
	cs := make([]*Change, n)
	for i := range cs {
		var cb []byte
		if !readU24(s, &cb) {
			return nil, malformed("log change")
		}
		c, err := parseChange(cb, ids)
		if err != nil {
			return nil, err
		}
		cs[i] = c
	}
	return cs, nil
}
