package vault

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestFactorNames(t *testing.T) {
	ks := &keystore{name: "keystore", key: []byte("hw")}
	v, dir := newVault(t, Options{Factors: []Factor{ks, &fixedFactor{name: "relay:x", secret: make([]byte, 32)}}})
	v.Close()
	names, err := FactorNames(dir)
	if err != nil || !slices.Equal(names, []string{"keystore", "relay:x"}) {
		t.Fatalf("FactorNames = %q, %v", names, err)
	}
	_, err = FactorNames(t.TempDir())
	wantErr(t, err, ErrNoVault)
	if err := os.WriteFile(filepath.Join(dir, headerFile), []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = FactorNames(dir)
	wantErr(t, err, ErrCorrupt)
}

func TestWriteFile(t *testing.T) {
	_, dir := newVault(t, Options{})
	if err := WriteFile(dir, "vault.unlock", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(dir, "vault.unlock", []byte("two")); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "vault.unlock"))
	st, _ := os.Stat(filepath.Join(dir, "vault.unlock"))
	if err != nil || string(b) != "two" || st.Mode().Perm() != fileMode {
		t.Fatalf("file = %q, %v, mode %v", b, err, st.Mode())
	}
	for _, name := range []string{headerFile, attemptsFile, lockFile, dbFile, dbFile + "-wal", "../x", "a/b", "", "."} {
		wantErr(t, WriteFile(dir, name, []byte("x")), ErrInvalid)
	}
}

// TestRekey changes the PIN and the factors in one header write; a factor
// that fails during the new wrapping leaves the old header in place.
func TestRekey(t *testing.T) {
	ctx := context.Background()
	old := &keystore{name: "old", key: []byte("k1")}
	v, dir := newVault(t, Options{Factors: []Factor{old}})
	mustPut(t, v, "ns", "k", "intact")
	broken := &keystore{name: "new", err: errors.New("relay unreachable")}
	if err := v.Rekey(ctx, testPIN, otherPIN, []Factor{broken}); !errors.Is(err, broken.err) {
		t.Fatalf("Rekey with a failing factor = %v", err)
	}
	wantErr(t, v.Rekey(ctx, otherPIN, otherPIN, nil), ErrWrongPIN)
	hdr, _ := os.ReadFile(filepath.Join(dir, headerFile))
	v.Close()
	v = mustOpen(t, dir, testPIN, Options{Factors: []Factor{old}})
	now, _ := os.ReadFile(filepath.Join(dir, headerFile))
	if !bytes.Equal(hdr, now) {
		t.Fatal("a failed Rekey changed the header")
	}

	fresh := &keystore{name: "new", key: []byte("k2")}
	if err := v.Rekey(ctx, testPIN, otherPIN, []Factor{fresh}); err != nil {
		t.Fatal(err)
	}
	v.Close()
	_, err := Open(ctx, dir, testPIN, Options{Factors: []Factor{fresh}})
	wantErr(t, err, ErrWrongPIN)
	_, err = Open(ctx, dir, otherPIN, Options{Factors: []Factor{old}})
	wantErr(t, err, ErrFactorMismatch)
	v = mustOpen(t, dir, otherPIN, Options{Factors: []Factor{fresh}})
	mustGet(t, v, "ns", "k", "intact")
	wantErr(t, v.Rekey(ctx, otherPIN, nil, nil), ErrInvalid)
}
