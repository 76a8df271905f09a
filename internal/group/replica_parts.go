package group

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/crypto/cryptobyte"

	"parley.dev/internal/addr"
)

// A Replica persists as parts, so that opening a message rewrites one
// sender's chains, not the whole group:
//
//	part              value
//	"log"             the Log (type 0x06)
//	"own"             the own SenderChain (type 0x81), if any
//	"holders"         u16 count × device address: who holds the own chain
//	"chains/U/D"      the receiving chains of device U/D (type 0x82)
//	"dists"           waiting distributions (type 0x83): u16 count ×
//	                  (device address, u16-prefixed distribution)
//	"wait/N"          a waiting message (N: its arrival number, decimal)
//
// Every part but "log" and "holders" holds secrets.
const (
	partLog     = "log"
	partOwn     = "own"
	partHolders = "holders"
	partDists   = "dists"
	prefixChain = "chains/"
	prefixWait  = "wait/"
)

func chainPart(a addr.Address) string { return prefixChain + a.String() }
func waitPart(seq uint64) string      { return prefixWait + strconv.FormatUint(seq, 10) }

// Dirty returns the parts changed since the last call, to be stored
// together (a nil value: delete the part), and forgets them.
func (r *Replica) Dirty() (map[string][]byte, error) {
	out := make(map[string][]byte, len(r.dirty))
	for part := range r.dirty {
		v, err := r.encodePart(part)
		if err != nil {
			return nil, err
		}
		out[part] = v
	}
	clear(r.dirty)
	return out, nil
}

// All returns every part, as if all were dirty.
func (r *Replica) All() (map[string][]byte, error) {
	r.dirty[partLog], r.dirty[partOwn], r.dirty[partHolders], r.dirty[partDists] = true, true, true, true
	for a := range r.chains {
		r.dirty[chainPart(a)] = true
	}
	for _, w := range r.waiting {
		r.dirty[waitPart(w.seq)] = true
	}
	parts, err := r.Dirty()
	for k, v := range parts {
		if v == nil {
			delete(parts, k)
		}
	}
	return parts, err
}

func (r *Replica) encodePart(part string) ([]byte, error) {
	switch {
	case part == partLog:
		return r.log.MarshalBinary()
	case part == partOwn:
		if r.own == nil {
			return nil, nil
		}
		return r.own.MarshalBinary()
	case part == partHolders:
		var b cryptobyte.Builder
		hs := sortedAddresses(r.holders)
		b.AddUint16(uint16(len(hs)))
		for _, a := range hs {
			addAddress(&b, a)
		}
		return b.Bytes()
	case part == partDists:
		return r.encodeDists()
	case strings.HasPrefix(part, prefixChain):
		a, err := addr.ParseAddress(strings.TrimPrefix(part, prefixChain))
		if err != nil || len(r.chains[a]) == 0 {
			return nil, nil
		}
		return MarshalReceiverChains(r.chains[a])
	case strings.HasPrefix(part, prefixWait):
		for _, w := range r.waiting {
			if waitPart(w.seq) == part {
				return w.m.raw, nil
			}
		}
		return nil, nil
	}
	return nil, fmt.Errorf("group: unknown part %q", part)
}

func (r *Replica) encodeDists() ([]byte, error) {
	if len(r.dists) == 0 {
		return nil, nil
	}
	var b cryptobyte.Builder
	b.AddUint8(Version)
	b.AddUint8(typePending)
	b.AddUint16(uint16(len(r.dists)))
	for _, w := range r.dists {
		db, err := w.d.MarshalBinary()
		if err != nil {
			return nil, err
		}
		addAddress(&b, w.from)
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(db) })
	}
	return b.Bytes()
}

// LoadReplica rebuilds device self's replica from its stored parts.
func LoadReplica(self addr.Address, parts map[string][]byte) (*Replica, error) {
	lb, ok := parts[partLog]
	if !ok {
		return nil, malformed("replica: no log")
	}
	log, err := UnmarshalLog(lb)
	if err != nil {
		return nil, err
	}
	r := NewReplica(self, log)
	clear(r.dirty)
	for part, v := range parts {
		if err := r.loadPart(part, v); err != nil {
			return nil, fmt.Errorf("group: part %q: %w", part, err)
		}
	}
	slicesSortWaiting(r.waiting)
	return r, nil
}

func (r *Replica) loadPart(part string, v []byte) error {
	var err error
	switch {
	case part == partLog:
	case part == partOwn:
		r.own, err = UnmarshalSenderChain(v)
		if err == nil && (r.own.group != r.ID() || r.own.self != r.self) {
			err = malformed("own chain of another group or device")
		}
	case part == partHolders:
		err = r.loadHolders(v)
	case part == partDists:
		err = r.loadDists(v)
	case strings.HasPrefix(part, prefixChain):
		err = r.loadChains(strings.TrimPrefix(part, prefixChain), v)
	case strings.HasPrefix(part, prefixWait):
		err = r.loadWaiting(strings.TrimPrefix(part, prefixWait), v)
	default:
		err = malformed("unknown part")
	}
	return err
}

func (r *Replica) loadHolders(v []byte) error {
	s := cryptobyte.String(v)
	var n uint16
	if !s.ReadUint16(&n) {
		return malformed("holders")
	}
	for range n {
		var a addr.Address
		if !readAddress(&s, &a) {
			return malformed("holders")
		}
		r.holders[a] = true
	}
	if !s.Empty() {
		return malformed("holders")
	}
	return nil
}

func (r *Replica) loadDists(v []byte) error {
	s := cryptobyte.String(v)
	if err := readHeader(&s, typePending, "waiting distributions"); err != nil {
		return err
	}
	var n uint16
	if !s.ReadUint16(&n) || n > MaxPendingDistributions {
		return malformed("waiting distributions")
	}
	for range n {
		var w waitingDist
		var db cryptobyte.String
		if !readAddress(&s, &w.from) || !s.ReadUint16LengthPrefixed(&db) {
			return malformed("waiting distributions")
		}
		d, err := ParseDistribution(db)
		if err != nil {
			return err
		}
		w.d = d
		r.dists = append(r.dists, w)
	}
	if !s.Empty() {
		return malformed("waiting distributions")
	}
	return nil
}

func (r *Replica) loadChains(name string, v []byte) error {
	a, err := addr.ParseAddress(name)
	if err != nil {
		return malformed("chains part name")
	}
	chains, err := UnmarshalReceiverChains(v)
	if err != nil {
		return err
	}
	if chains[0].sender != a || chains[0].group != r.ID() {
		return malformed("chains of another device or group")
	}
	r.chains[a] = chains
	return nil
}

func (r *Replica) loadWaiting(name string, v []byte) error {
	seq, err := strconv.ParseUint(name, 10, 64)
	if err != nil || len(r.waiting) >= MaxPendingMessages {
		return malformed("waiting message")
	}
	m, err := ParseMessage(v)
	if err != nil {
		return err
	}
	r.waiting = append(r.waiting, waitingMessage{seq: seq, m: m})
	r.nextSeq = max(r.nextSeq, seq+1)
	return nil
}

func slicesSortWaiting(ws []waitingMessage) {
	slices.SortFunc(ws, func(a, b waitingMessage) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
}
