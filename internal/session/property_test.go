package session

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"parley.dev/internal/keys/keystest"
)

// Schedules of TestPropertyRandomSchedules: 1,000 normally; fewer under
// the race detector, which makes each about ten times slower.
const (
	propertySchedules     = 1000
	propertySchedulesRace = 150
	propertySteps         = 30
)

// packet is one message in flight.
type packet struct {
	id   int
	to   int // 0: alice, 1: bob
	data []byte
}

// world is one schedule: two peers and the messages between them.
type world struct {
	t         *testing.T
	seed      uint64
	rng       *rand.Rand
	bob       *keystest.Device
	sessions  [2]*Session // alice, bob (nil until bob's first message)
	inflight  []packet
	delivered map[int]bool
	texts     map[int]string
	next      int
}

// TestPropertyRandomSchedules runs random schedules in which the network
// drops, reorders and duplicates messages in both directions while both
// peers send interleaved and restart from their serialized state. Every
// message that survives decrypts exactly once to its plaintext; every
// duplicate fails with ErrDuplicate and changes nothing (attacks 2, 3).
func TestPropertyRandomSchedules(t *testing.T) {
	n := propertySchedules
	if raceEnabled {
		n = propertySchedulesRace
	}
	alice, bob := keystest.Identity("alice"), keystest.NewDevice(bobAddr)
	bundle := bob.Bundle(1, 1)
	for seed := range uint64(n) {
		a, err := Initiate(alice, aliceAddr, bundle)
		if err != nil {
			t.Fatal(err)
		}
		w := &world{t: t, seed: seed, rng: rand.New(rand.NewPCG(seed, 0x9a7)), bob: bob,
			delivered: map[int]bool{}, texts: map[int]string{}}
		w.sessions[0] = a
		w.run()
		if t.Failed() {
			return
		}
	}
}

func (w *world) run() {
	for range propertySteps {
		switch op := w.rng.IntN(100); {
		case op < 30:
			w.send(0)
		case op < 50:
			w.send(1)
		case op < 85:
			w.deliver(w.rng.IntN(100) < 15)
		case op < 95:
			w.drop()
		default:
			w.restart()
		}
	}
	for len(w.inflight) > 0 { // the network finally delivers what it kept
		w.deliver(false)
	}
	for id := range w.texts {
		if !w.delivered[id] {
			w.t.Errorf("seed %d: message %d was never delivered", w.seed, id)
		}
	}
}

func (w *world) send(from int) {
	s := w.sessions[from]
	if s == nil {
		return // bob cannot send before he has a session
	}
	text := fmt.Sprintf("%d:%d", from, w.next)
	msg, err := s.Encrypt([]byte(text))
	if err != nil {
		w.t.Fatalf("seed %d: encrypt: %v", w.seed, err)
	}
	w.texts[w.next] = text
	w.inflight = append(w.inflight, packet{id: w.next, to: 1 - from, data: msg})
	w.next++
}

// deliver hands a random in-flight packet to its recipient, keeping a
// copy in flight if dup.
func (w *world) deliver(dup bool) {
	if len(w.inflight) == 0 {
		return
	}
	i := w.rng.IntN(len(w.inflight))
	p := w.inflight[i]
	if !dup {
		w.inflight = append(w.inflight[:i], w.inflight[i+1:]...)
	}
	pt, err := w.receive(p)
	switch {
	case w.delivered[p.id]:
		if !errors.Is(err, ErrDuplicate) {
			w.t.Fatalf("seed %d: duplicate of message %d: %v, want ErrDuplicate", w.seed, p.id, err)
		}
	case err != nil:
		w.t.Fatalf("seed %d: message %d: %v", w.seed, p.id, err)
	case string(pt) != w.texts[p.id]:
		w.t.Fatalf("seed %d: message %d decrypts to %q", w.seed, p.id, pt)
	default:
		w.delivered[p.id] = true
	}
}

// receive routes a packet as a client does: by Peek and base key.
func (w *world) receive(p packet) ([]byte, error) {
	s := w.sessions[p.to]
	if s == nil {
		info, err := Peek(p.data)
		if err != nil || info.Type != TypePreKey {
			w.t.Fatalf("seed %d: bob without a session got %v (%v)", w.seed, info.Type, err)
		}
		s, pt, _, err := Respond(w.bob.Identity, bobAddr, aliceAddr, w.bob, p.data)
		if err == nil {
			w.sessions[1] = s
		}
		return pt, err
	}
	info, err := Peek(p.data)
	if err != nil {
		return nil, err
	}
	if base, ok := info.BaseKey(); ok && base != s.BaseKey() {
		w.t.Fatalf("seed %d: prekey message with another base key", w.seed)
	}
	before := state(s)
	pt, err := s.Decrypt(p.data)
	if err != nil && !bytes.Equal(before, state(s)) {
		w.t.Fatalf("seed %d: failed decrypt (%v) changed the session", w.seed, err)
	}
	return pt, err
}

func (w *world) drop() {
	if len(w.inflight) > 0 {
		i := w.rng.IntN(len(w.inflight))
		delete(w.texts, w.inflight[i].id) // a dropped message is not expected
		w.inflight = append(w.inflight[:i], w.inflight[i+1:]...)
	}
}

// restart replaces both sessions by their serialized copies.
func (w *world) restart() {
	for i, s := range w.sessions {
		if s == nil {
			continue
		}
		r, err := Unmarshal(state(s))
		if err != nil {
			w.t.Fatalf("seed %d: restore: %v", w.seed, err)
		}
		w.sessions[i] = r
	}
}
