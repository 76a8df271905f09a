package ratchet

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Known-answer vectors, produced from fixed keys and message salts (both
// go through testHooks, so they do not depend on how Go uses randomness).
// Regenerate with: go test ./internal/ratchet -run 'Vectors|Accumulated' -update

const vectorsFile = "testdata/vectors.json"

type hexBytes []byte

func (h hexBytes) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(h)), nil }
func (h *hexBytes) UnmarshalText(b []byte) error {
	d, err := hex.DecodeString(string(b))
	*h = d
	return err
}

type vectors struct {
	KDFRK struct {
		RootKey, DHOutput, NextRootKey, ChainKey hexBytes
	}
	KDFCK struct {
		ChainKey, MessageKey, NextChainKey hexBytes
	}
	MessageKeys struct {
		MessageKey, Salt, AESKey, Nonce hexBytes
	}
	Session sessionVector
}

type sessionVector struct {
	SharedSecret, AssociatedData, ResponderPreKey hexBytes
	InitiatorKeyLabel, ResponderKeyLabel          string
	Messages                                      []vectorMessage
	InitiatorState, ResponderState                hexBytes
}

// vectorMessage is one step of the script: Sent by From, delivered to the
// other side in script order (deliveries may be delayed by Deliver).
type vectorMessage struct {
	From      string
	Plaintext string
	ExtraAD   hexBytes
	Message   hexBytes
}

func fixedBytes(label string) []byte {
	b := sha256.Sum256([]byte(label))
	return b[:]
}

func computeVectors(t *testing.T) *vectors {
	v := new(vectors)
	var rk, dhOut, ck, mk secret
	copy(rk[:], fixedBytes("root key"))
	copy(dhOut[:], fixedBytes("dh output"))
	copy(ck[:], fixedBytes("chain key"))
	copy(mk[:], fixedBytes("message key"))
	root, chain := kdfRK(&rk, &dhOut)
	v.KDFRK.RootKey, v.KDFRK.DHOutput, v.KDFRK.NextRootKey, v.KDFRK.ChainKey = rk[:], dhOut[:], root[:], chain[:]
	m, next := kdfCK(&ck)
	v.KDFCK.ChainKey, v.KDFCK.MessageKey, v.KDFCK.NextChainKey = ck[:], m[:], next[:]
	salt := messageSalt(fixedBytes("message salt")[:saltSize])
	keys := messageKeys(&mk, &salt)
	v.MessageKeys.MessageKey, v.MessageKeys.Salt = mk[:], salt[:]
	v.MessageKeys.AESKey, v.MessageKeys.Nonce = keys[:aeadKeySize], keys[aeadKeySize:]
	v.Session = computeSessionVector(t)
	return v
}

// The session script: i = initiator, r = responder. Each entry sends one
// message; deliveries happen in the order listed by deliverOrder.
var vectorScript = []struct{ from, plaintext, extraAD string }{
	{"i", "hello", ""},
	{"i", "second, delivered after the third", "type=text"},
	{"i", "third", ""},
	{"r", "reply", "type=text"},
	{"i", "after the reply", ""},
	{"r", "", ""},
}

var deliverOrder = []int{0, 2, 1, 3, 4, 5}

func computeSessionVector(t *testing.T) sessionVector {
	sv := sessionVector{
		SharedSecret: testSK, AssociatedData: testAD, ResponderPreKey: testPreKey(t).Bytes(),
		InitiatorKeyLabel: "initiator ratchet key", ResponderKeyLabel: "responder ratchet key",
	}
	a, b := newPair(t, fixedHooks(t, sv.InitiatorKeyLabel), fixedHooks(t, sv.ResponderKeyLabel))
	sides := map[string][2]*State{"i": {a, b}, "r": {b, a}}
	sent := 0
	for _, d := range deliverOrder {
		for ; sent <= d; sent++ { // send everything up to d, in script order
			step := vectorScript[sent]
			m, err := sides[step.from][0].Encrypt([]byte(step.plaintext), []byte(step.extraAD))
			if err != nil {
				t.Fatalf("script step %d: %v", sent, err)
			}
			sv.Messages = append(sv.Messages, vectorMessage{step.from, step.plaintext, []byte(step.extraAD), m})
		}
		msg := sv.Messages[d]
		pt, err := sides[msg.From][1].Decrypt(msg.Message, msg.ExtraAD)
		if err != nil || string(pt) != msg.Plaintext {
			t.Fatalf("script delivery %d: %q, %v", d, pt, err)
		}
	}
	sv.InitiatorState, sv.ResponderState = marshal(t, a), marshal(t, b)
	return sv
}

func TestVectors(t *testing.T) {
	got := computeVectors(t)
	if *update {
		writeJSON(t, vectorsFile, got)
		return
	}
	var want vectors
	b, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	gotJSON, wantJSON := mustJSON(t, got), mustJSON(t, &want)
	if !bytes.Equal(gotJSON, wantJSON) {
		t.Fatalf("vectors differ from %s:\n got %s\nwant %s", vectorsFile, gotJSON, wantJSON)
	}
	// The frozen states parse and re-serialize exactly.
	for _, st := range []hexBytes{want.Session.InitiatorState, want.Session.ResponderState} {
		s, err := Unmarshal(st)
		if err != nil || !bytes.Equal(marshal(t, s), st) {
			t.Fatalf("frozen state does not round-trip: %v", err)
		}
	}
}

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeJSON(t *testing.T, path string, v any) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(mustJSON(t, v), '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

const accumulatedFile = "testdata/accumulated.txt"

// TestAccumulated runs a long deterministic conversation (fixed keys and a
// seeded schedule with reordering and drops) and hashes every message and,
// periodically, both states, comparing the digest with a frozen value.
func TestAccumulated(t *testing.T) {
	const steps = 3000
	o := sha256.New()
	a, b := newPair(t, fixedHooks(t, "accumulated a"), fixedHooks(t, "accumulated b"))
	sides := [2]*State{a, b}
	rng := rand.New(rand.NewPCG(1, 2))
	type flight struct {
		to  int
		msg []byte
	}
	var inFlight []flight
	from := 0
	for i := range steps {
		switch r := rng.IntN(10); {
		case r < 5:
			if rng.IntN(3) == 0 {
				from = 1 - from
			}
			m, err := sides[from].Encrypt(fmt.Appendf(nil, "message %d", i), nil)
			if err != nil {
				continue // the responder has not heard from the initiator yet
			}
			o.Write(m)
			inFlight = append(inFlight, flight{1 - from, m})
		case r < 9 && len(inFlight) > 0:
			j := rng.IntN(len(inFlight))
			f := inFlight[j]
			inFlight = append(inFlight[:j], inFlight[j+1:]...)
			if r == 8 {
				continue // dropped
			}
			pt, err := sides[f.to].Decrypt(f.msg, nil)
			if err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			o.Write(pt)
		default:
			o.Write(marshal(t, sides[0]))
			o.Write(marshal(t, sides[1]))
		}
	}
	got := hex.EncodeToString(o.Sum(nil))
	if *update {
		if err := os.WriteFile(accumulatedFile, []byte(got+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(accumulatedFile)
	if err != nil {
		t.Fatal(err)
	}
	if got != strings.TrimSpace(string(want)) {
		t.Fatalf("accumulated digest %s, want %s", got, want)
	}
}
