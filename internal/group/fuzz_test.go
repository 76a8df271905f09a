package group

import (
	"bytes"
	"testing"

	"parley.dev/internal/addr"
)

// fuzzSeeds returns real encodings of every kind: a group of three where
// everyone sent, one was removed, and one was added.
type seeds struct {
	states, changes, welcomes, logs, dists, messages, senders, receivers [][]byte
	tr                                                                   *trio
}

func fuzzSeeds(t testing.TB) *seeds {
	tr := newTrio(t)
	s := &seeds{tr: tr}
	for _, p := range []person{tr.ann, tr.bob, tr.cat} {
		hs, _, err := tr.r(p).PrepareSend([]addr.Address{tr.ann.device(1), tr.bob.device(1), tr.cat.device(1)}, nil)
		check(t, err)
		for _, h := range hs {
			s.dists = append(s.dists, must(h.Distribution.MarshalBinary()))
			must(tr.rs[h.To].ReceiveDistribution(h.Distribution, p.device(1)))
		}
		s.messages = append(s.messages, must(tr.r(p).Seal([]byte("seed"))))
	}
	for i, p := range []person{tr.ann, tr.bob, tr.cat} {
		for _, q := range []person{tr.ann, tr.bob, tr.cat} {
			if p != q {
				must(tr.r(q).ReceiveMessage(must(ParseMessage(s.messages[i]))))
			}
		}
	}
	s.changes = append(s.changes, must(tr.c.MarshalBinary()))
	rm := tr.change(t, func(st *State) (*Change, *State, error) {
		return st.Remove(tr.ann.id, tr.ann.user, []addr.UserID{"cat"}, testTime)
	})
	dan := newPerson("dan")
	log := tr.r(tr.ann).Log()
	add, _, err := log.Head().Add(tr.ann.id, tr.ann.user, members(dan), testTime)
	check(t, err)
	s.welcomes = append(s.welcomes, must(NewWelcome(log.Head(), add).MarshalBinary()), must(NewWelcome(nil, tr.c).MarshalBinary()))
	s.changes = append(s.changes, must(rm.MarshalBinary()), must(add.MarshalBinary()))
	for _, r := range tr.rs {
		s.states = append(s.states, must(r.Head().MarshalBinary()))
		s.logs = append(s.logs, must(r.Log().MarshalBinary()))
		if r.own != nil {
			s.senders = append(s.senders, must(r.own.MarshalBinary()))
		}
		for _, list := range r.chains {
			s.receivers = append(s.receivers, must(MarshalReceiverChains(list)))
		}
	}
	return s
}

func addAll(f *testing.F, bs [][]byte) {
	for _, b := range bs {
		f.Add(b)
	}
}

// Each parser never panics, and whatever it accepts encodes back to
// exactly the bytes it read: one encoding per value.

func FuzzParseState(f *testing.F) {
	addAll(f, fuzzSeeds(f).states)
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := ParseState(b)
		if err == nil && !bytes.Equal(must(st.MarshalBinary()), b) {
			t.Fatal("state re-encodes differently")
		}
	})
}

func FuzzParseChange(f *testing.F) {
	addAll(f, fuzzSeeds(f).changes)
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseChange(b)
		if err != nil {
			return
		}
		body, err := c.body()
		if err != nil || !bytes.Equal(append(body, c.sig...), b) {
			t.Fatal("change re-encodes differently")
		}
	})
}

func FuzzParseWelcome(f *testing.F) {
	addAll(f, fuzzSeeds(f).welcomes)
	f.Fuzz(func(t *testing.T, b []byte) {
		w, err := ParseWelcome(b)
		if err != nil {
			return
		}
		if !bytes.Equal(must(w.MarshalBinary()), b) {
			t.Fatal("welcome re-encodes differently")
		}
		w.Verify() // must not panic
	})
}

func FuzzUnmarshalLog(f *testing.F) {
	addAll(f, fuzzSeeds(f).logs)
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := UnmarshalLog(b)
		if err == nil && !bytes.Equal(must(l.MarshalBinary()), b) {
			t.Fatal("log re-encodes differently")
		}
	})
}

func FuzzParseDistribution(f *testing.F) {
	addAll(f, fuzzSeeds(f).dists)
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseDistribution(b)
		if err == nil && !bytes.Equal(must(d.MarshalBinary()), b) {
			t.Fatal("distribution re-encodes differently")
		}
	})
}

func FuzzUnmarshalSenderChain(f *testing.F) {
	addAll(f, fuzzSeeds(f).senders)
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := UnmarshalSenderChain(b)
		if err == nil && !bytes.Equal(must(c.MarshalBinary()), b) {
			t.Fatal("sender chain re-encodes differently")
		}
	})
}

func FuzzUnmarshalReceiverChains(f *testing.F) {
	addAll(f, fuzzSeeds(f).receivers)
	f.Fuzz(func(t *testing.T, b []byte) {
		cs, err := UnmarshalReceiverChains(b)
		if err == nil && !bytes.Equal(must(MarshalReceiverChains(cs)), b) {
			t.Fatal("receiving chains re-encode differently")
		}
	})
}

// FuzzReceiveMessage: arbitrary bytes offered as a group message to a
// live replica never panic; what does not parse, open or wait changes
// nothing, and a parsed header re-encodes to the bytes it came from.
func FuzzReceiveMessage(f *testing.F) {
	s := fuzzSeeds(f)
	addAll(f, s.messages)
	ann := s.tr.r(s.tr.ann)
	parts := must(ann.All())
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMessage(b)
		if err != nil {
			return
		}
		st := &State{id: m.Group, epoch: m.Epoch, hash: m.State}
		if h, err := appendHeader(m.Group, st, m.Sender, m.Chain, m.N, m.salt); err != nil || !bytes.Equal(h, m.header) {
			t.Fatal("message header re-encodes differently")
		}
		r := must(LoadReplica(ann.self, parts))
		u, err := r.ReceiveMessage(m)
		dirty := must(r.Dirty())
		if err != nil && len(dirty) > 0 {
			t.Fatalf("a refused message changed %d parts", len(dirty))
		}
		if err == nil && len(u.Opened) == 0 && !u.Waiting {
			t.Fatal("a message neither opened, waited nor failed")
		}
	})
}

// FuzzLoadReplica: arbitrary bytes as any part of a stored replica never
// panic.
func FuzzLoadReplica(f *testing.F) {
	s := fuzzSeeds(f)
	ann := s.tr.r(s.tr.ann)
	parts := must(ann.All())
	for name, v := range parts {
		f.Add(name, v)
	}
	f.Fuzz(func(t *testing.T, name string, v []byte) {
		p := make(map[string][]byte, len(parts)+1)
		for k, x := range parts {
			p[k] = x
		}
		p[name] = v
		LoadReplica(ann.self, p)
	})
}
