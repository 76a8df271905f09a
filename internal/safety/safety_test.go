package safety

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"regexp"
	"testing"

	"parley.dev/internal/addr"
	"parley.dev/internal/keys"
	"parley.dev/internal/keys/keystest"
)

var update = flag.Bool("update", false, "rewrite the known-answer vectors in testdata")

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

var (
	alice = keystest.Identity("alice").Public()
	bob   = keystest.Identity("bob").Public()
	eve   = keystest.Identity("eve").Public()
)

func TestSameOnBothSides(t *testing.T) {
	a := must(New("alice", alice, "bob", bob))
	b := must(New("bob", bob, "alice", alice))
	if a.Digits() != b.Digits() || a.String() != b.String() {
		t.Fatalf("sides differ:\n%s\n%s", a, b)
	}
	if ok, err := b.MatchQR(a.QR()); !ok || err != nil {
		t.Fatalf("bob scanning alice's code: %v, %v", ok, err)
	}
	if ok, err := a.MatchQR(b.QR()); !ok || err != nil {
		t.Fatalf("alice scanning bob's code: %v, %v", ok, err)
	}
	if !regexp.MustCompile(`^[0-9]{60}$`).MatchString(a.Digits()) {
		t.Fatalf("digits %q", a.Digits())
	}
	if !regexp.MustCompile(`^([0-9]{5} ){11}[0-9]{5}$`).MatchString(a.String()) {
		t.Fatalf("display form %q", a.String())
	}
	if len(a.QR()) != QRSize || a.QR()[0] != QRVersion {
		t.Fatalf("QR payload %x", a.QR())
	}
}

// TestQRKnowsWhichSideIsWhich: the two sides show different payloads, and
// a device that scans its own screen (or a photo of it) gets no match.
func TestQRKnowsWhichSideIsWhich(t *testing.T) {
	a := must(New("alice", alice, "bob", bob))
	b := must(New("bob", bob, "alice", alice))
	if bytes.Equal(a.QR(), b.QR()) {
		t.Fatal("both sides show the same QR payload")
	}
	if ok, err := a.MatchQR(a.QR()); ok || err != nil {
		t.Errorf("alice's own code matched alice: %v, %v", ok, err)
	}
	if ok, err := b.MatchQR(b.QR()); ok || err != nil {
		t.Errorf("bob's own code matched bob: %v, %v", ok, err)
	}
	if _, err := New("alice", alice, "alice", alice); err == nil {
		t.Error("a safety number of a user with themself")
	}
}

// TestChangesWithEitherIdentity is attack 5's basis: if a server swaps
// either identity key, the numbers and QR codes no longer match.
func TestChangesWithEitherIdentity(t *testing.T) {
	genuine := must(New("alice", alice, "bob", bob))
	swapped := map[string]Number{
		"bob's identity swapped":   must(New("alice", alice, "bob", eve)),
		"alice's identity swapped": must(New("alice", eve, "bob", bob)),
		"bob's user ID changed":    must(New("alice", alice, "bobby", bob)),
		"alice's user ID changed":  must(New("alicia", alice, "bob", bob)),
	}
	for name, n := range swapped {
		if n.Digits() == genuine.Digits() {
			t.Errorf("%s: same digits", name)
		}
		if n.Digits()[:30] != genuine.Digits()[:30] && n.Digits()[30:] != genuine.Digits()[30:] &&
			n.Digits()[:30] != genuine.Digits()[30:] && n.Digits()[30:] != genuine.Digits()[:30] {
			t.Errorf("%s: both halves changed, want only the changed side's", name)
		}
		if ok, err := genuine.MatchQR(n.QR()); ok || err != nil {
			t.Errorf("%s: QR matches (%v)", name, err)
		}
	}
}

func TestMatchQRRejects(t *testing.T) {
	n := must(New("alice", alice, "bob", bob))
	qr := must(New("bob", bob, "alice", alice)).QR()
	for i := range qr[1:] {
		bad := bytes.Clone(qr)
		bad[1+i] ^= 0x01
		if ok, err := n.MatchQR(bad); ok || err != nil {
			t.Fatalf("payload with byte %d flipped: %v, %v", 1+i, ok, err)
		}
	}
	for _, v := range []byte{1, QRVersion + 1} { // 1: the old payload, the same on both sides
		bad := bytes.Clone(qr)
		bad[0] = v
		if _, err := n.MatchQR(bad); !errors.Is(err, ErrVersion) {
			t.Errorf("version %d: %v", v, err)
		}
	}
	for _, b := range [][]byte{nil, qr[:QRSize-1], append(bytes.Clone(qr), 0)} {
		if _, err := n.MatchQR(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%d-byte payload: %v", len(b), err)
		}
	}
	if _, err := (Number{}).MatchQR(qr); err == nil {
		t.Error("zero Number matched a payload")
	}
	if _, err := New("Alice", alice, "bob", bob); err == nil {
		t.Error("invalid user ID accepted")
	}
	if _, err := New("alice", keys.IdentityPublic{}, "bob", bob); err == nil {
		t.Error("zero identity accepted")
	}
}

const katFile = "testdata/safety.json"

type katCase struct {
	Local, Remote string
	Digits        string
	QR            string
}

// TestKnownAnswers freezes the numbers of fixed identities (keystest,
// whose encodings internal/keys freezes). Run with -update to regenerate.
func TestKnownAnswers(t *testing.T) {
	var got []katCase
	for _, p := range [][2]string{{"alice", "bob"}, {"bob", "alice"}, {"bob", "eve"}} {
		n := must(New(keysUser(p[0]), keystest.Identity(p[0]).Public(), keysUser(p[1]), keystest.Identity(p[1]).Public()))
		got = append(got, katCase{Local: p[0], Remote: p[1], Digits: n.String(), QR: hex.EncodeToString(n.QR())})
	}
	if *update {
		if err := os.WriteFile(katFile, append(must(json.MarshalIndent(got, "", "\t")), '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	var want []katCase
	if err := json.Unmarshal(must(os.ReadFile(katFile)), &want); err != nil {
		t.Fatal(err)
	}
	if len(want) != len(got) {
		t.Fatalf("%s has %d vectors, the test computes %d", katFile, len(want), len(got))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("got %+v\nwant %+v", got[i], want[i])
		}
	}
}

func keysUser(s string) addr.UserID { return addr.UserID(s) }

func FuzzMatchQR(f *testing.F) {
	n := must(New("alice", alice, "bob", bob))
	theirs := must(New("bob", bob, "alice", alice)).QR()
	f.Add(theirs)
	f.Add(n.QR())
	f.Fuzz(func(t *testing.T, b []byte) {
		ok, err := n.MatchQR(b)
		if ok != bytes.Equal(b, theirs) || (err == nil) != (len(b) == QRSize && b[0] == QRVersion) {
			t.Fatalf("MatchQR(%x) = %v, %v", b, ok, err)
		}
	})
}

func BenchmarkNew(b *testing.B) {
	for b.Loop() {
		must(New("alice", alice, "bob", bob))
	}
}
