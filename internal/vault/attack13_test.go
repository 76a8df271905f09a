package vault

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
)

// copyDir copies the regular files of src into a fresh dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	os.RemoveAll(dst)
	if err := os.MkdirAll(dst, dirMode); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		os.WriteFile(filepath.Join(dst, e.Name()), readFile(t, filepath.Join(src, e.Name())), fileMode)
	}
}

// nonces returns the nonce of every sealed value in the vault: each
// record, the check record and the wrapped data key.
func nonces(t *testing.T, v *Vault) map[string]bool {
	t.Helper()
	out := map[string]bool{hex.EncodeToString(v.hdr.wrapped[:nonceSize]): true}
	rows, err := v.db.Query("SELECT val FROM records UNION ALL SELECT val FROM meta")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var val []byte
		rows.Scan(&val)
		if len(val) > 0 && val[0] == recordVersion && len(val) >= recordHeader {
			out[hex.EncodeToString(val[1:recordHeader])] = true
		}
	}
	return out
}

// write makes the same changes in every branch: the same records, the same
// new PIN. A counter-derived or deterministic nonce would repeat.
func writeBranch(t *testing.T, v *Vault) {
	t.Helper()
	for _, k := range []string{"m1", "m2", "m3"} {
		mustPut(t, v, "history", k, "same plaintext "+k)
	}
	mustPut(t, v, "sessions", "bob/1", "state after")
	if err := v.ChangePIN(t.Context(), testPIN, testPIN); err != nil {
		t.Fatal(err)
	}
}

func TestAttack13RollbackNoNonceReuse(t *testing.T) {
	v, dir := newVault(t, Options{})
	mustPut(t, v, "sessions", "bob/1", "state before")
	v.Close()
	snapshot := filepath.Join(t.TempDir(), "snapshot")
	copyDir(t, dir, snapshot)

	v = mustOpen(t, dir, testPIN, Options{})
	base := nonces(t, v)
	writeBranch(t, v)
	first := nonces(t, v)
	v.Close()

	copyDir(t, snapshot, dir) // roll the vault back
	v = mustOpen(t, dir, testPIN, Options{})
	mustGet(t, v, "sessions", "bob/1", "state before")
	writeBranch(t, v)
	second := nonces(t, v)

	fresh := 0
	for n := range second {
		if base[n] {
			continue // kept from the snapshot, not a new encryption
		}
		fresh++
		if first[n] {
			t.Fatalf("nonce %s used before and after the rollback under the same key", n)
		}
	}
	if fresh < 5 {
		t.Fatalf("only %d new seals after the rollback; the test checked nothing", fresh)
	}
}
