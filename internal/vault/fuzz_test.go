package vault

import (
	"bytes"
	"errors"
	"testing"
)

// The vault decodes three kinds of on-disk bytes: the header, the attempt
// file and sealed records. Each has a fuzz target; none may panic, and
// what decodes must re-encode to the same bytes.

func FuzzParseHeader(f *testing.F) {
	h := &header{state: stateActive, kdf: testKDF, factors: []string{"keystore", "oprf"}}
	h.wrapped = make([]byte, wrappedKeySize)
	f.Add(h.marshal())
	h.factors = nil
	f.Add(h.marshal())
	f.Add((&header{state: stateWiped}).marshal())
	f.Add([]byte(headerMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseHeader(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
			return
		}
		if !bytes.Equal(h.marshal(), b) {
			t.Fatalf("header does not round-trip")
		}
		if h.state == stateActive {
			if err := h.kdf.check(true); err != nil {
				t.Fatalf("parsed header exceeds the caps: %v", err)
			}
		}
	})
}

func FuzzParseAttempts(f *testing.F) {
	f.Add(attempts{}.marshal())
	f.Add(attempts{failures: 7, lockedUntil: 1 << 40}.marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := parseAttempts(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
			return
		}
		if !bytes.Equal(a.marshal(), b) {
			t.Fatal("attempt file does not round-trip")
		}
	})
}

func FuzzOpenRecord(f *testing.F) {
	keys := newRecordKeys(bytes.Repeat([]byte{9}, keySize))
	for _, r := range []struct{ ns, key, val string }{{"contacts", "alice", "Alice"}, {"n", "", ""}} {
		id, _, sealed := keys.sealRecord(keys.newIndexMAC(), r.ns, r.key, []byte(r.val))
		f.Add(r.ns, id, sealed)
	}
	f.Add("ns", make([]byte, macSize), []byte{recordVersion})
	f.Fuzz(func(t *testing.T, ns string, id, sealed []byte) {
		r, err := keys.openRecord(keys.newIndexMAC(), ns, id, sealed)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
			return
		}
		if !bytes.Equal(keys.recordID(ns, r.Key), id) {
			t.Fatal("opened a record whose key does not match its row")
		}
	})
}
