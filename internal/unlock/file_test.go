package unlock

import (
	"bytes"
	"errors"
	"testing"
)

func sampleFile(t testing.TB) *File {
	t.Helper()
	return &File{Entries: []Entry{
		{Credential: newCred(t, 1), Relay: Relay{URL: "https://relay.example:8443", CA: []byte("-----BEGIN CERTIFICATE-----\n"),
			Pins: []string{"sha256/AAAA", "sha256/BBBB"}}},
		{Credential: newCred(t, 2), Relay: Relay{URL: "https://relay.example"}},
	}}
}

func TestFileRoundTrip(t *testing.T) {
	f := sampleFile(t)
	b, err := f.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	g, err := ParseFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Entries) != 2 || g.Find(newCred(t, 2).ID()) == nil || g.Find(newCred(t, 3).ID()) != nil {
		t.Fatalf("parsed %d entries", len(g.Entries))
	}
	e := g.Find(newCred(t, 1).ID())
	if e.Relay.URL != f.Entries[0].Relay.URL || !bytes.Equal(e.Relay.CA, f.Entries[0].Relay.CA) || len(e.Relay.Pins) != 2 {
		t.Fatalf("entry changed: %+v", e.Relay)
	}
	again, err := g.Marshal()
	if err != nil || !bytes.Equal(again, b) {
		t.Fatal("not canonical")
	}
}

// TestFileTamper: any change or truncation is ErrFile.
func TestFileTamper(t *testing.T) {
	b, err := sampleFile(t).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		c := bytes.Clone(b)
		c[i] ^= 0x01
		if _, err := ParseFile(c); !errors.Is(err, ErrFile) {
			t.Fatalf("flip at %d: %v", i, err)
		}
	}
	for n := range len(b) {
		if _, err := ParseFile(b[:n]); !errors.Is(err, ErrFile) {
			t.Fatalf("truncated to %d: %v", n, err)
		}
	}
}

func TestFileLimits(t *testing.T) {
	cases := map[string]*File{
		"empty":        {},
		"no URL":       {Entries: []Entry{{Credential: newCred(t, 1)}}},
		"twice":        {Entries: []Entry{{Credential: newCred(t, 1), Relay: Relay{URL: "u"}}, {Credential: newCred(t, 1), Relay: Relay{URL: "u"}}}},
		"big CA":       {Entries: []Entry{{Credential: newCred(t, 1), Relay: Relay{URL: "u", CA: make([]byte, MaxCALen+1)}}}},
		"too many":     {Entries: make([]Entry, MaxEntries+1)},
		"empty pin":    {Entries: []Entry{{Credential: newCred(t, 1), Relay: Relay{URL: "u", Pins: []string{""}}}}},
		"invalid UTF8": {Entries: []Entry{{Credential: newCred(t, 1), Relay: Relay{URL: "\xff"}}}},
	}
	for i := range cases["too many"].Entries {
		cases["too many"].Entries[i] = Entry{Credential: newCred(t, byte(i)), Relay: Relay{URL: "u"}}
	}
	for name, f := range cases {
		if _, err := f.Marshal(); err == nil {
			t.Errorf("%s: marshalled", name)
		}
	}
}
