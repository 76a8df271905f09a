package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// corruptOrIntact opens dir and reads every record of want. It fails the
// test unless the result is ErrCorrupt or exactly the records written
// (some may be missing: deleting a row is undetectable, see the threat
// model); it never accepts different bytes.
func corruptOrIntact(t *testing.T, dir string, want map[string]map[string]string) (corrupt bool) {
	t.Helper()
	v, err := Open(context.Background(), dir, testPIN, Options{})
	if errors.Is(err, ErrCorrupt) {
		return true
	}
	if err != nil {
		t.Fatalf("Open: %v; want ErrCorrupt or success", err)
	}
	defer v.Close()
	for ns, recs := range want {
		got, err := v.List(ns)
		if errors.Is(err, ErrCorrupt) {
			return true
		}
		if err != nil {
			t.Fatalf("List(%q): %v; want ErrCorrupt or success", ns, err)
		}
		for _, r := range got {
			if w, ok := recs[r.Key]; !ok || w != string(r.Value) {
				t.Fatalf("List(%q) returned garbage: %q = %q", ns, r.Key, r.Value)
			}
		}
	}
	return false
}

func TestTamperHeaderEveryByte(t *testing.T) {
	v, dir := newVault(t, Options{})
	v.Close()
	path := filepath.Join(dir, headerFile)
	orig := readFile(t, path)
	for i := range orig {
		bad := bytes.Clone(orig)
		bad[i] ^= 1 << (i % 8)
		if err := os.WriteFile(path, bad, fileMode); err != nil {
			t.Fatal(err)
		}
		_, err := Open(context.Background(), dir, testPIN, Options{})
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("header bit flip at byte %d: %v, want ErrCorrupt", i, err)
		}
	}
	if got := readFailures(t, dir); got != 0 {
		t.Fatalf("a corrupt header counted %d guesses", got)
	}
	os.WriteFile(path, orig, fileMode)
	mustOpen(t, dir, testPIN, Options{})
}

func TestTruncatedHeader(t *testing.T) {
	v, dir := newVault(t, Options{})
	v.Close()
	path := filepath.Join(dir, headerFile)
	orig := readFile(t, path)
	for n := range len(orig) {
		os.WriteFile(path, orig[:n], fileMode)
		if _, err := Open(context.Background(), dir, testPIN, Options{}); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("header truncated to %d bytes: %v", n, err)
		}
	}
	os.WriteFile(path, append(bytes.Clone(orig), 0), fileMode)
	if _, err := Open(context.Background(), dir, testPIN, Options{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("header with a trailing byte: %v", err)
	}
}

// rewriteHeader edits a header's fields and fixes its digest, as a
// deliberate attacker would.
func rewriteHeader(t *testing.T, dir string, edit func(*header)) {
	t.Helper()
	h, err := readHeader(dir)
	if err != nil {
		t.Fatal(err)
	}
	edit(h)
	if err := os.WriteFile(filepath.Join(dir, headerFile), h.marshal(), fileMode); err != nil {
		t.Fatal(err)
	}
}

func TestTamperedHeaderKDFIsCapped(t *testing.T) {
	for _, p := range []KDFParams{
		{Memory: MaxKDFMemory + 1, Time: 1, Threads: 1},
		{Memory: 4 << 20, Time: 3, Threads: 4}, // 4 GiB: would exhaust a phone
		{Memory: 1024, Time: MaxKDFTime + 1, Threads: 1},
		{Memory: 1024, Time: 1 << 30, Threads: 1},
		{Memory: 1024, Time: 1, Threads: MaxKDFThreads + 1},
		{Memory: 1024, Time: 1, Threads: 0},
		{Memory: 0, Time: 1, Threads: 1},
		{Memory: MaxKDFMemory, Time: MaxKDFWork/MaxKDFMemory + 1, Threads: 1},
	} {
		t.Run(fmt.Sprintf("%d_%d_%d", p.Memory, p.Time, p.Threads), func(t *testing.T) {
			v, dir := newVault(t, Options{})
			v.Close()
			rewriteHeader(t, dir, func(h *header) { h.kdf = p })
			_, err := Open(context.Background(), dir, testPIN, Options{})
			wantErr(t, err, ErrCorrupt)
			if got := readFailures(t, dir); got != 0 {
				t.Fatal("the KDF ran on capped parameters")
			}
		})
	}
}

func TestTamperedHeaderFieldsLookLikeWrongPIN(t *testing.T) {
	// An attacker who fixes the digest is still stopped by the AEAD.
	for name, edit := range map[string]func(*header){
		"kdf":      func(h *header) { h.kdf.Time++ },
		"salt":     func(h *header) { h.salt[0] ^= 1 },
		"vault ID": func(h *header) { h.vaultID[0] ^= 1 },
		"factors":  func(h *header) { h.factors = nil },
		"wrapped":  func(h *header) { h.wrapped[30] ^= 1 },
	} {
		t.Run(name, func(t *testing.T) {
			ks := &keystore{name: "ks", key: []byte("k")}
			v, dir := newVault(t, Options{Factors: []Factor{ks}})
			v.Close()
			rewriteHeader(t, dir, edit)
			fs := []Factor{ks}
			if name == "factors" {
				fs = nil
			}
			_, err := Open(context.Background(), dir, testPIN, Options{Factors: fs})
			if !errors.Is(err, ErrWrongPIN) && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open: %v", err)
			}
		})
	}
}

func TestTamperAttemptFile(t *testing.T) {
	v, dir := newVault(t, Options{})
	v.Close()
	path := filepath.Join(dir, attemptsFile)
	orig := readFile(t, path)
	for i := range orig {
		bad := bytes.Clone(orig)
		bad[i] ^= 0x80
		os.WriteFile(path, bad, fileMode)
		if _, err := Open(context.Background(), dir, testPIN, Options{}); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("attempt file flip at %d: %v", i, err)
		}
	}
	os.Remove(path)
	if _, err := Open(context.Background(), dir, testPIN, Options{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("attempt file deleted: %v", err)
	}
}

// sqlTamper runs a statement on the raw rows of a closed vault.
func sqlTamper(t *testing.T, dir, query string, args ...any) {
	t.Helper()
	v := mustOpen(t, dir, testPIN, Options{})
	if _, err := v.db.Exec(query, args...); err != nil {
		t.Fatal(err)
	}
	v.Close()
}

func TestTamperEachRecordValue(t *testing.T) {
	v, dir := newVault(t, Options{})
	keys := []string{"alice", "bob", "carol"}
	for _, k := range keys {
		mustPut(t, v, "contacts", k, "record of "+k)
	}
	id := v.keys.recordID("contacts", "bob")
	var sealed []byte
	v.db.QueryRow("SELECT val FROM records WHERE id = ?", id).Scan(&sealed)
	v.Close()
	for _, k := range keys {
		// Positions: version byte, nonce, ciphertext, tag.
		for _, pos := range []int{0, 1, recordHeader, recordHeader + 3, len(sealed) - 1} {
			t.Run(fmt.Sprintf("%s/%d", k, pos), func(t *testing.T) {
				v := mustOpen(t, dir, testPIN, Options{})
				id := v.keys.recordID("contacts", k)
				var orig []byte
				v.db.QueryRow("SELECT val FROM records WHERE id = ?", id).Scan(&orig)
				bad := bytes.Clone(orig)
				bad[pos] ^= 0x04
				v.db.Exec("UPDATE records SET val = ? WHERE id = ?", bad, id)
				_, err := v.Get("contacts", k)
				wantErr(t, err, ErrCorrupt)
				if errors.Is(err, ErrNotFound) {
					t.Fatal("a damaged record reported as not found")
				}
				_, err = v.List("contacts")
				wantErr(t, err, ErrCorrupt)
				v.db.Exec("UPDATE records SET val = ? WHERE id = ?", orig, id)
				mustGet(t, v, "contacts", k, "record of "+k)
			})
		}
	}
	for _, n := range []int{0, 1, recordHeader + tagSize - 1, len(sealed) - 1} {
		sqlTamper(t, dir, "UPDATE records SET val = ? WHERE id = ?", append([]byte{}, sealed[:n]...), id)
		v := mustOpen(t, dir, testPIN, Options{})
		_, err := v.Get("contacts", "bob")
		wantErr(t, err, ErrCorrupt)
		v.Close()
	}
}

func TestSwappedRecords(t *testing.T) {
	v, dir := newVault(t, Options{})
	mustPut(t, v, "contacts", "alice", "trusted")
	mustPut(t, v, "contacts", "mallory", "untrusted")
	mustPut(t, v, "blocked", "x", "y")
	a, m := v.keys.recordID("contacts", "alice"), v.keys.recordID("contacts", "mallory")
	v.Close()

	// Swap the two values.
	v = mustOpen(t, dir, testPIN, Options{})
	var va, vm []byte
	v.db.QueryRow("SELECT val FROM records WHERE id = ?", a).Scan(&va)
	v.db.QueryRow("SELECT val FROM records WHERE id = ?", m).Scan(&vm)
	v.db.Exec("UPDATE records SET val = ? WHERE id = ?", vm, a)
	v.db.Exec("UPDATE records SET val = ? WHERE id = ?", va, m)
	for _, k := range []string{"alice", "mallory"} {
		_, err := v.Get("contacts", k)
		wantErr(t, err, ErrCorrupt)
	}
	_, err := v.List("contacts")
	wantErr(t, err, ErrCorrupt)

	// Move a record to another namespace (its namespace tag).
	v.db.Exec("UPDATE records SET ns = ? WHERE id = ?", v.keys.nsTag("blocked"), m)
	_, err = v.List("blocked")
	wantErr(t, err, ErrCorrupt)
	// Re-key a record: its row now answers for another key.
	zed := v.keys.recordID("contacts", "zed")
	v.db.Exec("UPDATE records SET id = ?, ns = ? WHERE id = ?", zed, v.keys.nsTag("contacts"), v.keys.recordID("blocked", "x"))
	_, err = v.Get("contacts", "zed")
	wantErr(t, err, ErrCorrupt)
}

func TestDatabaseFromAnotherVault(t *testing.T) {
	v1, dir1 := newVault(t, Options{})
	mustPut(t, v1, "ns", "k", "one")
	v1.Close()
	v2, dir2 := newVault(t, Options{})
	v2.Close()
	os.WriteFile(filepath.Join(dir2, dbFile), readFile(t, filepath.Join(dir1, dbFile)), fileMode)
	_, err := Open(context.Background(), dir2, testPIN, Options{})
	wantErr(t, err, ErrCorrupt)
}

func TestCheckRecordTampered(t *testing.T) {
	v, dir := newVault(t, Options{})
	v.Close()
	sqlTamper(t, dir, "UPDATE meta SET val = substr(val, 2) || x'00' WHERE name = 'check'")
	_, err := Open(context.Background(), dir, testPIN, Options{})
	wantErr(t, err, ErrCorrupt)
	sqlTamperNoCheck(t, dir, "DELETE FROM meta")
	_, err = Open(context.Background(), dir, testPIN, Options{})
	wantErr(t, err, ErrCorrupt)
}

// sqlTamperNoCheck edits the database of a vault that no longer opens.
func sqlTamperNoCheck(t *testing.T, dir, query string) {
	t.Helper()
	dk := unwrapForTest(t, dir)
	db, err := openDB(dir, derive(dk, nil, labelSQLiteXTS, xtsKeySize))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(query); err != nil {
		t.Fatal(err)
	}
}

func unwrapForTest(t *testing.T, dir string) []byte {
	t.Helper()
	h, err := readHeader(dir)
	if err != nil {
		t.Fatal(err)
	}
	kek, err := deriveKEK(context.Background(), testPIN, h, nil)
	if err != nil {
		t.Fatal(err)
	}
	dk, err := open(newAEAD(kek.bytes()), h.wrapped, h.wrapAD())
	if err != nil {
		t.Fatal(err)
	}
	return dk
}

// fillVault writes enough records to span many database pages.
func fillVault(t *testing.T, v *Vault) map[string]map[string]string {
	t.Helper()
	want := map[string]map[string]string{"history": {}, "contacts": {}}
	err := v.Update(func(tx *Tx) error {
		for i := range 200 {
			ns := []string{"history", "contacts"}[i%2]
			k, val := fmt.Sprintf("key-%03d", i), fmt.Sprintf("value %d %s", i, bytes.Repeat([]byte{'v'}, i*3))
			want[ns][k] = val
			if err := tx.Put(ns, k, []byte(val)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return want
}

func TestTruncatedDatabase(t *testing.T) {
	v, dir := newVault(t, Options{})
	want := fillVault(t, v)
	v.Close()
	path := filepath.Join(dir, dbFile)
	orig := readFile(t, path)
	for _, n := range []int{0, 100, 512, 4096, len(orig) / 2, len(orig) - 4096, len(orig) - 512, len(orig) - 1} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			os.WriteFile(path, orig[:n], fileMode)
			if !corruptOrIntact(t, dir, want) {
				t.Fatalf("database truncated from %d to %d bytes read without error", len(orig), n)
			}
		})
	}
}

func TestDatabaseBitFlips(t *testing.T) {
	v, dir := newVault(t, Options{})
	want := fillVault(t, v)
	v.Close()
	path := filepath.Join(dir, dbFile)
	orig := readFile(t, path)
	rng := rand.New(rand.NewPCG(1, 2))
	detected := 0
	const flips = 40
	for range flips {
		bad := bytes.Clone(orig)
		i := rng.IntN(len(bad))
		bad[i] ^= 1 << rng.IntN(8)
		os.WriteFile(path, bad, fileMode)
		if corruptOrIntact(t, dir, want) {
			detected++
		}
	}
	t.Logf("%d of %d random bit flips detected; the rest hit unused space or was harmless", detected, flips)
	if detected == 0 {
		t.Fatal("no bit flip in the database was detected")
	}
}
