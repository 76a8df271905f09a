package vault

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// canaries are distinctive plaintexts: message text, a contact name, key
// bytes, timestamps (text and binary), record keys, a namespace and the
// PIN. None may appear in any file of the vault's directory.
func canaries() map[string][]byte {
	ts := time.Date(2031, 4, 5, 6, 7, 8, 0, time.UTC)
	var bin [8]byte
	binary.BigEndian.PutUint64(bin[:], uint64(ts.UnixMilli()))
	return map[string][]byte{
		"message":      []byte("CANARY meet me at the old lighthouse at dawn"),
		"contact":      []byte("Zebulon Quixote-Marchbanks"),
		"key bytes":    bytes.Repeat([]byte{0xC0, 0xFF, 0xEE, 0x42}, 8),
		"timestamp":    []byte(ts.Format(time.RFC3339)),
		"timestamp ms": bin[:],
		"record key":   []byte("conversation-with-zebulon"),
		"namespace":    []byte("canary-namespace"),
		"pin":          []byte("918273645"),
		// SQLite's own plaintext: present in any unencrypted database or
		// WAL, so these show that the XTS layer covers both.
		"sqlite header": []byte("SQLite format 3\x00"),
		"schema":        []byte("CREATE TABLE"),
		"wal magic":     {0x37, 0x7f, 0x06, 0x82},
	}
}

// scanDir returns the names of canaries found in any file under dir.
func scanDir(t *testing.T, dir string, needles map[string][]byte) map[string]string {
	t.Helper()
	found := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for name, n := range needles {
			if bytes.Contains(b, n) {
				found[name] = filepath.Base(path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func TestScanDirFindsCanaries(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "leak"), append([]byte("xx"), canaries()["contact"]...), 0o600)
	if got := scanDir(t, dir, canaries()); got["contact"] != "leak" || len(got) != 1 {
		t.Fatalf("scanDir = %v", got)
	}
}

func TestCanaryNothingReadableOnDisk(t *testing.T) {
	c := canaries()
	dir := filepath.Join(t.TempDir(), "v")
	v, err := Create(t.Context(), dir, c["pin"], Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	c["data key"] = bytes.Clone(v.dataKey.bytes())
	ns := string(c["namespace"])
	err = v.Update(func(tx *Tx) error {
		for name, val := range c {
			if err := tx.Put(ns, name, val); err != nil {
				return err
			}
		}
		tx.Put("contacts", string(c["contact"]), c["key bytes"])
		tx.Put("history", string(c["record key"]), c["message"])
		return tx.Put(string(c["timestamp"]), string(c["timestamp ms"]), c["timestamp"])
	})
	if err != nil {
		t.Fatal(err)
	}
	// Overwrite and delete too: secure_delete must not leave old copies.
	mustPut(t, v, "history", string(c["record key"]), "replaced")
	if err := v.Delete("contacts", string(c["contact"])); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, dbFile+"-wal")); err != nil {
		t.Fatalf("no WAL while open; the scan would not cover it: %v", err)
	}
	if found := scanDir(t, dir, c); len(found) > 0 {
		t.Fatalf("plaintext on disk while open (WAL present): %v", found)
	}
	if err := v.ChangePIN(t.Context(), c["pin"], []byte("new-pin-5555")); err != nil {
		t.Fatal(err)
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	if found := scanDir(t, dir, c); len(found) > 0 {
		t.Fatalf("plaintext on disk after Close: %v", found)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		t.Logf("scanned %s", e.Name())
	}
}
