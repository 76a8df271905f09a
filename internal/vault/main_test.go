package vault

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(helperEnv); dir != "" {
		guessOnce(dir) // a guessing process of TestWrongPINsAcrossProcesses
		os.Exit(0)
	}
	UnsafeCheapKDFForTests()
	os.Exit(m.Run())
}

var (
	testPIN  = []byte("482916")
	otherPIN = []byte("000000")
)

// fakeClock is an injectable clock.
type fakeClock struct{ t time.Time }

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time          { return c.t }
func (c *fakeClock) Advance(d time.Duration) { c.t = c.t.Add(d) }

// newVault creates a vault in a fresh directory.
func newVault(t *testing.T, opt Options) (*Vault, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "vault")
	v, err := Create(context.Background(), dir, testPIN, opt)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() { v.Close() })
	return v, dir
}

func mustOpen(t *testing.T, dir string, pin []byte, opt Options) *Vault {
	t.Helper()
	v, err := Open(context.Background(), dir, pin, opt)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

func mustPut(t *testing.T, v *Vault, ns, key, val string) {
	t.Helper()
	if err := v.Put(ns, key, []byte(val)); err != nil {
		t.Fatalf("Put(%q, %q): %v", ns, key, err)
	}
}

func mustGet(t *testing.T, v *Vault, ns, key, want string) {
	t.Helper()
	got, err := v.Get(ns, key)
	if err != nil {
		t.Fatalf("Get(%q, %q): %v", ns, key, err)
	}
	if string(got) != want {
		t.Fatalf("Get(%q, %q) = %q, want %q", ns, key, got, want)
	}
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("err = %v, want %v", err, target)
	}
}

func readFailures(t *testing.T, dir string) uint32 {
	t.Helper()
	a, err := readAttempts(dir)
	if err != nil {
		t.Fatalf("readAttempts: %v", err)
	}
	return a.failures
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rawRows returns every stored row's bytes, for comparisons.
func rawRows(t *testing.T, v *Vault) []byte {
	t.Helper()
	rows, err := v.db.Query("SELECT id, ns, val FROM records ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []byte
	for rows.Next() {
		var id, ns, val []byte
		if err := rows.Scan(&id, &ns, &val); err != nil {
			t.Fatal(err)
		}
		out = append(append(append(out, id...), ns...), val...)
	}
	return out
}
