package ratchet

// Bounds on the state an attacker can make a receiver keep.
const (
	// MaxSkip is how many message keys one message may make the receiver
	// skip in one chain. A header asking for more is refused before any key
	// is derived.
	MaxSkip = 2000
	// MaxSkippedKeys is how many skipped message keys a state stores in
	// total; storing more evicts the oldest.
	MaxSkippedKeys = 2000
	// MaxRemoteKeyHistory is how many of the peer's earlier ratchet public
	// keys a state remembers, so that a replay from an old chain is reported
	// as ErrDuplicate instead of being tried as a new DH ratchet step.
	MaxRemoteKeyHistory = 64
)

// skippedID names a skipped message key: the peer's ratchet key and N.
type skippedID struct {
	dh [KeySize]byte
	n  uint32
}

// skippedKey is one stored message key.
type skippedKey struct {
	id skippedID
	mk secret
}

type skippedSlot struct {
	mk  secret
	seq uint64 // insertion number; matches order[...] while live
}

// skippedStore holds skipped message keys, bounded by MaxSkippedKeys and
// evicting the oldest first. Its zero value is empty and ready to use.
type skippedStore struct {
	slots map[skippedID]skippedSlot
	order []skippedEntryRef // insertion order; may hold removed entries
	next  uint64            // next insertion number
}

type skippedEntryRef struct {
	id  skippedID
	seq uint64
}

func (s *skippedStore) len() int { return len(s.slots) }

// lookup returns the key stored for id, if any.
func (s *skippedStore) lookup(id skippedID) (secret, bool) {
	slot, ok := s.slots[id]
	return slot.mk, ok
}

// remove drops the key stored for id and wipes the map slot.
func (s *skippedStore) remove(id skippedID) {
	if _, ok := s.slots[id]; !ok {
		return
	}
	s.slots[id] = skippedSlot{}
	delete(s.slots, id)
	s.compact()
}

// add stores keys in order, evicting the oldest keys beyond MaxSkippedKeys.
func (s *skippedStore) add(keys []skippedKey) {
	if len(keys) == 0 {
		return
	}
	if s.slots == nil {
		s.slots = make(map[skippedID]skippedSlot, len(keys))
	}
	if len(keys) > MaxSkippedKeys {
		keys = keys[len(keys)-MaxSkippedKeys:] // the rest would be evicted at once
	}
	for i := range keys {
		s.slots[keys[i].id] = skippedSlot{mk: keys[i].mk, seq: s.next}
		s.order = append(s.order, skippedEntryRef{keys[i].id, s.next})
		s.next++
	}
	for len(s.slots) > MaxSkippedKeys {
		s.evictOldest()
	}
	s.compact()
}

// evictOldest drops the oldest live entry.
func (s *skippedStore) evictOldest() {
	for len(s.order) > 0 {
		ref := s.order[0]
		s.order = s.order[1:]
		if slot, ok := s.slots[ref.id]; ok && slot.seq == ref.seq {
			s.slots[ref.id] = skippedSlot{}
			delete(s.slots, ref.id)
			return
		}
	}
}

// compact drops removed entries from order once they outnumber live ones,
// so order stays within twice the bound.
func (s *skippedStore) compact() {
	if len(s.order) <= 2*len(s.slots)+16 {
		return
	}
	live := make([]skippedEntryRef, 0, len(s.slots))
	for _, ref := range s.order {
		if slot, ok := s.slots[ref.id]; ok && slot.seq == ref.seq {
			live = append(live, ref)
		}
	}
	s.order = live
}

// each calls f for every stored key, oldest first.
func (s *skippedStore) each(f func(id skippedID, mk *secret)) {
	for _, ref := range s.order {
		if slot, ok := s.slots[ref.id]; ok && slot.seq == ref.seq {
			f(ref.id, &slot.mk)
		}
	}
}

// keyHistory remembers the peer's most recent earlier ratchet public keys,
// at most MaxRemoteKeyHistory, oldest first. Its zero value is empty.
type keyHistory struct {
	keys [][KeySize]byte
}

func (h *keyHistory) contains(k *[KeySize]byte) bool {
	for i := range h.keys {
		if h.keys[i] == *k {
			return true
		}
	}
	return false
}

func (h *keyHistory) push(k [KeySize]byte) {
	if len(h.keys) == MaxRemoteKeyHistory {
		h.keys = append(h.keys[:0], h.keys[1:]...)
	}
	h.keys = append(h.keys, k)
}
