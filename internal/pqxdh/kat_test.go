package pqxdh

import (
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"parley.dev/internal/keys"
	"parley.dev/internal/keys/keystest"
)

var update = flag.Bool("update", false, "rewrite the known-answer vectors in testdata")

const katFile = "testdata/pqxdh.json"

// katCase is one frozen handshake: the keys come from keystest (whose
// encodings internal/keys freezes), the ephemeral key and the ML-KEM
// encapsulation randomness from Seed.
type katCase struct {
	Name          string `json:"name"`
	Seed          byte   `json:"seed"`
	OneTimePreKey uint32 `json:"one_time_prekey"`
	KEMPreKey     uint32 `json:"kem_prekey"`
	Header        string `json:"header"`
	SessionKey    string `json:"session_key"`
	AD            string `json:"ad"`
}

var katInputs = []katCase{
	{Name: "one-time EC and KEM prekeys", Seed: 0x11, OneTimePreKey: 1, KEMPreKey: 2},
	{Name: "no one-time EC prekey, last-resort KEM prekey", Seed: 0x22, KEMPreKey: uint32(keystest.LastResortID)},
}

func computeKAT(t *testing.T, c katCase) katCase {
	alice, bob := keystest.Identity("alice"), keystest.NewDevice(bobAddr)
	b := bob.Bundle(keys.PreKeyID(c.OneTimePreKey), keys.PreKeyID(c.KEMPreKey))
	h, r, err := initiate(alice, aliceAddr, b, fixedEntropy(c.Seed))
	if err != nil {
		t.Fatal(err)
	}
	rb, _, err := Respond(bob.Identity, bobAddr, h, bob)
	if err != nil || !sameKeys(r, rb) {
		t.Fatalf("%s: responder disagrees: %v", c.Name, err)
	}
	c.Header = hex.EncodeToString(must(h.MarshalBinary()))
	c.SessionKey = hex.EncodeToString(r.SessionKey())
	c.AD = hex.EncodeToString(r.AssociatedData())
	return c
}

// TestKnownAnswers fails on any change to the header encoding, SK or AD.
// Run with -update to regenerate testdata/pqxdh.json after an intended
// change (which is a protocol version change).
func TestKnownAnswers(t *testing.T) {
	var got []katCase
	for _, c := range katInputs {
		got = append(got, computeKAT(t, c))
	}
	if *update {
		b, err := json.MarshalIndent(got, "", "\t")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.FromSlash(katFile), append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	b, err := os.ReadFile(filepath.FromSlash(katFile))
	if err != nil {
		t.Fatal(err)
	}
	var want []katCase
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if len(want) != len(got) {
		t.Fatalf("%s has %d vectors, the test computes %d", katFile, len(want), len(got))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("%s:\n got %+v\nwant %+v", got[i].Name, got[i], want[i])
		}
	}
}

// TestMaxHeaderSize freezes the documented header bound (docs/protocol.md).
func TestMaxHeaderSize(t *testing.T) {
	if MaxHeaderSize != 1881 {
		t.Fatalf("MaxHeaderSize = %d; docs/protocol.md says 1881", MaxHeaderSize)
	}
}
