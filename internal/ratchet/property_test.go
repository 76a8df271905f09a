package ratchet

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"testing/cryptotest"
)

// sent is one message on the simulated network.
type sent struct {
	to        int // index of the receiving side
	plaintext string
	msg       []byte
	delivered bool
}

// schedule runs one random conversation between two sides over a network
// that drops, reorders, duplicates and interleaves messages, and checks
// that every delivered message decrypts exactly once and to its plaintext,
// every duplicate is ErrDuplicate without a state change, and tampered
// copies are refused without a state change.
type schedule struct {
	t     *testing.T
	rng   *rand.Rand
	sides [2]*State
	inFlight,
	done []*sent
	count int
	from  int // side that sends next
}

func (s *schedule) send(from int) {
	pt := fmt.Sprintf("message %d from %d", s.count, from)
	s.count++
	m, err := s.sides[from].Encrypt([]byte(pt), nil)
	if errors.Is(err, ErrNoSendingChain) && from == 1 {
		return // the responder has not heard from the initiator yet
	}
	if err != nil {
		s.t.Fatalf("encrypt: %v", err)
	}
	s.inFlight = append(s.inFlight, &sent{to: 1 - from, plaintext: pt, msg: m})
}

// take removes and returns a random in-flight message (reordering).
func (s *schedule) take() *sent {
	i := s.rng.IntN(len(s.inFlight))
	m := s.inFlight[i]
	s.inFlight = append(s.inFlight[:i], s.inFlight[i+1:]...)
	return m
}

func (s *schedule) deliver(m *sent) {
	to := s.sides[m.to]
	if m.delivered {
		rejects(s.t, to, m.msg, nil, ErrDuplicate)
		return
	}
	pt, err := to.Decrypt(m.msg, nil)
	if err != nil || string(pt) != m.plaintext {
		s.t.Fatalf("delivering %q: got %q, %v", m.plaintext, pt, err)
	}
	m.delivered = true
	s.done = append(s.done, m)
}

func (s *schedule) step() {
	switch r := s.rng.IntN(100); {
	case r < 40:
		if s.rng.IntN(4) == 0 { // conversations come in bursts
			s.from = 1 - s.from
		}
		s.send(s.from)
	case r < 75 && len(s.inFlight) > 0:
		m := s.take()
		s.deliver(m)
		if s.rng.IntN(4) == 0 { // the network keeps a copy to deliver again
			s.inFlight = append(s.inFlight, m)
		}
	case r < 85 && len(s.inFlight) > 0:
		s.take() // dropped
	case r < 93 && len(s.done) > 0:
		s.deliver(s.done[s.rng.IntN(len(s.done))]) // replayed later
	case len(s.done) > 0:
		m := s.done[s.rng.IntN(len(s.done))]
		f := bytes.Clone(m.msg)
		f[s.rng.IntN(len(f))] ^= byte(1 + s.rng.IntN(255))
		rejects(s.t, s.sides[m.to], f, nil, nil)
	}
}

// converges checks that a fresh exchange both ways still works.
func (s *schedule) converges() {
	for _, from := range []int{0, 1} {
		s.send(from)
		s.deliver(s.inFlight[len(s.inFlight)-1])
	}
}

// TestPropertyRandomSchedules runs 1,000 random schedules of 40 steps with
// fixed seeds (a sample of them under -race: see raceEnabled).
func TestPropertyRandomSchedules(t *testing.T) {
	const steps = 40
	schedules := uint64(1000)
	if raceEnabled {
		schedules = 100
	}
	for seed := range schedules {
		cryptotest.SetGlobalRandom(t, seed) // ratchet key generation
		a, b := newPair(t, nil, nil)
		s := &schedule{t: t, rng: rand.New(rand.NewPCG(seed, 0x9a7e)), sides: [2]*State{a, b}}
		for range steps {
			s.step()
		}
		s.converges()
		if t.Failed() {
			t.Fatalf("seed %d failed", seed)
		}
	}
}
