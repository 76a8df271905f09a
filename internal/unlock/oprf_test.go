package unlock

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/cloudflare/circl/oprf"
)

// rfcVectors is RFC 9497, Appendix A.1.1 (ristretto255-SHA512, mode OPRF),
// as published: testdata/rfc9497-ristretto255-oprf.json.
type rfcVectors struct {
	Seed, KeyInfo, SkSm hexBytes
	Vectors             []struct {
		Input, Blind, BlindedElement, EvaluationElement, Output hexBytes
	}
}

type hexBytes []byte

func (h hexBytes) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(h)), nil }
func (h *hexBytes) UnmarshalText(b []byte) error {
	d, err := hex.DecodeString(string(b))
	*h = d
	return err
}

func readJSON(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// TestRFC9497Vectors runs the RFC's vectors through this package's own
// code paths (Blind, Key.Evaluate, finalize), so a change of suite, mode
// or library that alters the function fails here.
func TestRFC9497Vectors(t *testing.T) {
	var v rfcVectors
	readJSON(t, "testdata/rfc9497-ristretto255-oprf.json", &v)
	sk, err := oprf.DeriveKey(suite, oprf.BaseMode, v.Seed, v.KeyInfo)
	if err != nil {
		t.Fatal(err)
	}
	key := &Key{k: sk}
	if !bytes.Equal(key.Bytes(), v.SkSm) {
		t.Fatalf("derived key %x, want %x", key.Bytes(), v.SkSm)
	}
	if len(v.Vectors) == 0 {
		t.Fatal("no vectors")
	}
	for i, tv := range v.Vectors {
		blind := suite.Group().NewScalar()
		if err := blind.UnmarshalBinary(tv.Blind); err != nil {
			t.Fatal(err)
		}
		a, blinded, err := blindWith(CredentialID{}, tv.Input, blind)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(blinded[:], tv.BlindedElement) {
			t.Errorf("vector %d: blinded %x, want %x", i, blinded, tv.BlindedElement)
		}
		ev, err := key.Evaluate(blinded)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ev[:], tv.EvaluationElement) {
			t.Errorf("vector %d: evaluated %x, want %x", i, ev, tv.EvaluationElement)
		}
		y, err := a.finalize(ev)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(y, tv.Output) {
			t.Errorf("vector %d: output %x, want %x", i, y, tv.Output)
		}
	}
}

// exchange runs one honest exchange and returns the client's output.
func exchange(t testing.TB, key *Key, cred CredentialID, input []byte) *Output {
	t.Helper()
	a, blinded, err := Blind(cred, input)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := key.Evaluate(blinded)
	if err != nil {
		t.Fatal(err)
	}
	out, err := a.Finish(ev)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func newCred(t testing.TB, b byte) *Credential {
	t.Helper()
	c, err := NewCredential(bytes.Repeat([]byte{b}, SeedSize))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestExchangeIsAFunction(t *testing.T) {
	key, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	other, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	cred, cred2 := newCred(t, 1).ID(), newCred(t, 2).ID()
	in := []byte("factor input derived from Argon2id(PIN)")
	a, b := exchange(t, key, cred, in), exchange(t, key, cred, in)
	if !bytes.Equal(a.Secret(), b.Secret()) || !bytes.Equal(a.Verifier(), b.Verifier()) {
		t.Fatal("two blindings of one input give different outputs")
	}
	if bytes.Equal(a.Secret(), a.Verifier()) {
		t.Fatal("secret and verifier coincide")
	}
	for name, o := range map[string]*Output{
		"another input":      exchange(t, key, cred, []byte("another PIN's input")),
		"another key":        exchange(t, other, cred, in),
		"another credential": exchange(t, key, cred2, in),
	} {
		if bytes.Equal(o.Secret(), a.Secret()) || bytes.Equal(o.Verifier(), a.Verifier()) {
			t.Errorf("%s gives the same output", name)
		}
	}
}

func TestProof(t *testing.T) {
	key, _ := GenerateKey()
	cred := newCred(t, 1).ID()
	out := exchange(t, key, cred, []byte("input"))
	ch := State{Failures: 1}.Challenge(cred)
	p := out.Proof(ch)
	if !CheckProof(out.Verifier(), cred, ch, p) {
		t.Fatal("honest proof refused")
	}
	wrong := exchange(t, key, cred, []byte("wrong PIN"))
	cases := map[string]bool{
		"other challenge":  CheckProof(out.Verifier(), cred, State{Failures: 2}.Challenge(cred), p),
		"other credential": CheckProof(out.Verifier(), newCred(t, 2).ID(), ch, p),
		"wrong PIN":        CheckProof(out.Verifier(), cred, ch, wrong.Proof(ch)),
		"short verifier":   CheckProof(out.Verifier()[:16], cred, ch, p),
		"zero proof":       CheckProof(out.Verifier(), cred, ch, Proof{}),
	}
	for name, ok := range cases {
		if ok {
			t.Errorf("%s: proof accepted", name)
		}
	}
}

// TestBadElements: the relay refuses non-canonical encodings and the
// identity before using its key, and the client refuses them as
// evaluations.
func TestBadElements(t *testing.T) {
	key, _ := GenerateKey()
	a, _, err := Blind(CredentialID{}, []byte("in"))
	if err != nil {
		t.Fatal(err)
	}
	var ff Element
	for i := range ff {
		ff[i] = 0xff
	}
	for name, e := range map[string]Element{"identity": {}, "non-canonical": ff, "negative": {1}} {
		if _, err := key.Evaluate(e); !errors.Is(err, ErrElement) {
			t.Errorf("Evaluate(%s) = %v, want ErrElement", name, err)
		}
		if _, err := a.Finish(e); !errors.Is(err, ErrElement) {
			t.Errorf("Finish(%s) = %v, want ErrElement", name, err)
		}
	}
	for _, in := range [][]byte{nil, make([]byte, MaxInput+1)} {
		if _, _, err := Blind(CredentialID{}, in); !errors.Is(err, ErrInput) {
			t.Errorf("Blind(%d bytes) = %v, want ErrInput", len(in), err)
		}
	}
}

func TestKeyEncoding(t *testing.T) {
	key, _ := GenerateKey()
	back, err := ParseKey(key.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	cred := newCred(t, 3).ID()
	if !bytes.Equal(exchange(t, key, cred, []byte("x")).Secret(), exchange(t, back, cred, []byte("x")).Secret()) {
		t.Fatal("a parsed key evaluates differently")
	}
	for _, b := range [][]byte{nil, make([]byte, KeySize), make([]byte, KeySize+1)} {
		if _, err := ParseKey(b); err == nil {
			t.Errorf("ParseKey(%x) accepted", b)
		}
	}
}

func TestCredential(t *testing.T) {
	c := newCred(t, 7)
	ch := State{Failures: 3}.Challenge(c.ID())
	el := Element{9}
	sig := c.SignEvaluate(ch, el)
	if !VerifyEvaluate(c.ID(), ch, el, sig[:]) {
		t.Fatal("signature refused")
	}
	if VerifyEvaluate(c.ID(), State{Failures: 4}.Challenge(c.ID()), el, sig[:]) || VerifyEvaluate(c.ID(), ch, Element{8}, sig[:]) ||
		VerifyEvaluate(newCred(t, 8).ID(), ch, el, sig[:]) {
		t.Fatal("signature accepted for another request")
	}
	name := c.ID().FactorName()
	if len(name) > 64 || !strings.HasPrefix(name, FactorPrefix) {
		t.Fatalf("factor name %q", name)
	}
	id, ok := ParseFactorName(name)
	if !ok || id != c.ID() {
		t.Fatal("factor name does not round-trip")
	}
	for _, bad := range []string{"keystore", FactorPrefix, FactorPrefix + "AAAA", name + "A", FactorPrefix + strings.Repeat("=", 43), name[:len(name)-2] + "\r" + name[len(name)-2:], name + "\n"} {
		if _, ok := ParseFactorName(bad); ok {
			t.Errorf("ParseFactorName(%q) accepted", bad)
		}
	}
}

// TestRedacted: no secret-bearing type prints its bytes.
func TestRedacted(t *testing.T) {
	key, _ := GenerateKey()
	c := newCred(t, 5)
	a, _, _ := Blind(c.ID(), []byte("in"))
	out := exchange(t, key, c.ID(), []byte("in"))
	for _, v := range []any{key, c, a, out} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
			if s := fmt.Sprintf(verb, v); s != redacted {
				t.Errorf("%T printed with %s as %q", v, verb, s)
			}
		}
	}
}
