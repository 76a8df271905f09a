package vault

import (
	"fmt"
	"testing"
)

// The vault's files coalesce writes beneath XTS (package coalesce), and
// that changes no byte on disk: a vault written through it, with a large
// commit and a checkpoint, is a database that ncruces's plain "xts" VFS
// reads whole. Vaults written before coalescing open unchanged.
func TestDatabaseIsPlainXTS(t *testing.T) {
	v, dir := newVault(t, Options{})
	const n = 3000 // several MiB of WAL: runs break at MaxRun, and a checkpoint runs
	err := v.Update(func(tx *Tx) error {
		for i := range n {
			if err := tx.Put("ns", fmt.Sprint(i), []byte(fmt.Sprintf("%01000d", i))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i += 2 {
		if err := v.Delete("ns", fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	v.Close()
	db, err := openDBVFS(dir, derive(unwrapForTest(t, dir), nil, labelSQLiteXTS, xtsKeySize), "xts")
	if err != nil {
		t.Fatal(err)
	}
	var ok string
	var rows int
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("integrity_check through plain xts: %q, %v", ok, err)
	}
	if err := db.QueryRow("SELECT count(*) FROM records").Scan(&rows); err != nil || rows != n/2 {
		t.Fatalf("plain xts reads %d records (%v); want %d", rows, err, n/2)
	}
	db.Close()
	v = mustOpen(t, dir, testPIN, Options{})
	defer v.Close()
	for i := 1; i < n; i += 2 { // every record, not only the database's structure
		mustGet(t, v, "ns", fmt.Sprint(i), fmt.Sprintf("%01000d", i))
	}
}
