package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// prefixTwins returns two keys of namespace ns whose record ids share
// the prefix that records_id indexes (4 bytes: a search of about 2^16
// keys).
func prefixTwins(t *testing.T, v *Vault, ns string) (string, string) {
	t.Helper()
	seen := map[string]string{}
	for i := range 1 << 22 {
		key := fmt.Sprint("k", i)
		p := string(v.keys.recordID(ns, key)[:4])
		if other, ok := seen[p]; ok {
			return other, key
		}
		seen[p] = key
	}
	t.Fatal("no two ids with one prefix")
	return "", ""
}

// checkModel fails unless v holds exactly model's records in namespace
// ns, each found by Get and by List, keys (the keys tried) holding the
// others, and no id is on two rows.
func checkModel(t *testing.T, v *Vault, ns string, model map[string]string, keys []string) {
	t.Helper()
	for _, key := range keys {
		got, err := v.Get(ns, key)
		want, ok := model[key]
		switch {
		case !ok && !errors.Is(err, ErrNotFound):
			t.Fatalf("Get(%s) = %q, %v; want ErrNotFound", key, got, err)
		case ok && (err != nil || string(got) != want):
			t.Fatalf("Get(%s) = %q, %v; want %q", key, got, err, want)
		}
	}
	recs, err := v.List(ns)
	if err != nil || len(recs) != len(model) {
		t.Fatalf("List: %d records, %v; want %d", len(recs), err, len(model))
	}
	for _, r := range recs {
		if model[r.Key] != string(r.Value) {
			t.Fatalf("List: %s = %q, want %q", r.Key, r.Value, model[r.Key])
		}
	}
	var dups int
	err = v.db.QueryRow("SELECT count(*) FROM (SELECT id FROM records GROUP BY id HAVING count(*) > 1)").Scan(&dups)
	if err != nil || dups != 0 {
		t.Fatalf("%d ids on more than one row (%v)", dups, err)
	}
}

// TestRecordsSharingAnIDPrefix writes, reads, adds to, replaces and
// deletes two records whose ids share the indexed prefix: each must
// answer for itself alone. It fails if a lookup trusts the prefix (the
// index) without comparing the whole id.
func TestRecordsSharingAnIDPrefix(t *testing.T) {
	v, dir := newVault(t, Options{})
	a, b := prefixTwins(t, v, "ns")
	keys := []string{a, b}
	model := map[string]string{}
	check := func() { t.Helper(); checkModel(t, v, "ns", model, keys) }

	mustPut(t, v, "ns", a, "A")
	model[a] = "A"
	check() // b is absent although its prefix is there
	if replaced, err := replaceOne(v, "ns", b, "no"); err != nil || replaced {
		t.Fatalf("Replace of the absent twin = %v, %v", replaced, err)
	}
	if err := v.Delete("ns", b); err != nil {
		t.Fatal(err)
	}
	check()
	if added, err := addOne(v, "ns", b, "B"); err != nil || !added {
		t.Fatalf("Add of the absent twin = %v, %v; want added", added, err)
	}
	model[b] = "B"
	check()
	if added, err := addOne(v, "ns", a, "again"); err != nil || added {
		t.Fatalf("Add of a present twin = %v, %v; want not added", added, err)
	}
	mustPut(t, v, "ns", b, "B2")
	model[b] = "B2"
	if replaced, err := replaceOne(v, "ns", a, "A2"); err != nil || !replaced {
		t.Fatalf("Replace of a present twin = %v, %v", replaced, err)
	}
	model[a] = "A2"
	check()
	if err := v.Delete("ns", a); err != nil {
		t.Fatal(err)
	}
	delete(model, a)
	check()
	v.Close()
	v = mustOpen(t, dir, testPIN, Options{})
	check()
	v.Close()
}

// TestRecordsRandomWrites runs a random mix of Put, Add, Replace and
// Delete, in transactions of random size, some rolled back, against a
// map, over keys that include two sharing an id prefix; it checks the
// vault against the map after each transaction, after a reopen and after
// Compact. It fails if a write finds the wrong row or none, or leaves an
// id on two rows.
func TestRecordsRandomWrites(t *testing.T) {
	v, dir := newVault(t, Options{})
	a, b := prefixTwins(t, v, "ns")
	keys := []string{a, b}
	for k := range 40 {
		keys = append(keys, fmt.Sprint(k))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	model := map[string]string{}
	for round := range 120 {
		next := maps.Clone(model)
		rollback := rng.IntN(8) == 0
		err := v.Update(func(tx *Tx) error {
			for range 1 + rng.IntN(12) {
				randomWrite(t, tx, rng, next, keys[rng.IntN(len(keys))], round)
			}
			if rollback {
				return errRolledBack
			}
			return nil
		})
		if rollback {
			wantErr(t, err, errRolledBack)
		} else if err != nil {
			t.Fatal(err)
		} else {
			model = next
		}
		checkModel(t, v, "ns", model, keys)
		switch round {
		case 60:
			v.Close()
			v = mustOpen(t, dir, testPIN, Options{})
		case 90:
			if err := v.Compact(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
	v.Close()
}

var errRolledBack = errors.New("rolled back")

// randomWrite makes one random change to key in tx and in model.
func randomWrite(t *testing.T, tx *Tx, rng *rand.Rand, model map[string]string, key string, round int) {
	t.Helper()
	val := fmt.Sprint("v", round, "-", rng.IntN(1000))
	_, exists := model[key]
	switch rng.IntN(4) {
	case 0:
		if err := tx.Put("ns", key, []byte(val)); err != nil {
			t.Fatal(err)
		}
		model[key] = val
	case 1:
		added, err := tx.Add("ns", key, []byte(val))
		if err != nil || added == exists {
			t.Fatalf("Add(%s) = %v, %v; the record existed: %v", key, added, err, exists)
		}
		if added {
			model[key] = val
		}
	case 2:
		replaced, err := tx.Replace("ns", key, []byte(val))
		if err != nil || replaced != exists {
			t.Fatalf("Replace(%s) = %v, %v; the record existed: %v", key, replaced, err, exists)
		}
		if replaced {
			model[key] = val
		}
	case 3:
		if err := tx.Delete("ns", key); err != nil {
			t.Fatal(err)
		}
		delete(model, key)
	}
}

// TestRecordQueriesUseIDIndex fails if SQLite would answer a lookup by
// id with anything but the id index: a query whose expression differs
// from the index's by a character scans the whole table, which is
// correct and, in a large vault, thousands of times slower.
func TestRecordQueriesUseIDIndex(t *testing.T) {
	v, _ := newVault(t, Options{})
	defer v.Close()
	id, ns := v.keys.recordID("ns", "k"), v.keys.nsTag("ns")
	q2 := queriesV2
	lookups := map[string][]any{q2.get: {id}, q2.del: {id}}
	for _, q := range []string{q2.put, q2.add, q2.replace} {
		lookups[q] = []any{id, ns, []byte("v")}
	}
	for q, args := range lookups {
		rows, err := v.db.Query("EXPLAIN QUERY PLAN "+q, args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var a, b, c int
			var detail string
			if err := rows.Scan(&a, &b, &c, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		all := strings.Join(plan, "; ")
		if !strings.Contains(all, "USING INDEX records_id") || strings.Contains(all, "SCAN") {
			t.Errorf("%s\nplan: %s; want a search of records_id", q, all)
		}
	}
}

// schemaV1Test turns a database into schema version 1 as vaults before
// the id prefix index had it (migrate.go quotes it), with the same rows.
const schemaV1Test = `
CREATE TABLE records_v1 (
	id  BLOB NOT NULL UNIQUE,
	ns  BLOB NOT NULL,
	val BLOB NOT NULL
);
INSERT INTO records_v1(rowid, id, ns, val) SELECT rid, id, ns, val FROM records;
DROP TABLE records;
ALTER TABLE records_v1 RENAME TO records;
CREATE INDEX records_ns ON records(ns);
PRAGMA user_version = 1;
`

// TestMigrateFromV1 rewrites a vault's database in schema version 1
// (the same rows and sealed values) and opens it: every record reads
// back unchanged, Add sees the existing ones, writes work, and the
// database is version 2 without the old index. It fails if the
// migration loses, duplicates or re-seals a record, or leaves version 1.
func TestMigrateFromV1(t *testing.T) {
	v, dir := newVault(t, Options{})
	model := map[string]string{}
	var keys []string
	err := v.Update(func(tx *Tx) error {
		for k := range 300 {
			key, val := fmt.Sprint(k), fmt.Sprint("value ", k)
			model[key], keys = val, append(keys, key)
			if err := tx.Put("ns", key, []byte(val)); err != nil {
				return err
			}
		}
		return tx.Put("other", "x", []byte("y"))
	})
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := v.UnsafeSealedForTests("ns", "7")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.db.Exec(schemaV1Test); err != nil {
		t.Fatal(err)
	}
	v.Close()

	v = mustOpen(t, dir, testPIN, Options{})
	var version, autoIndexes int
	if err := v.db.QueryRow("PRAGMA user_version").Scan(&version); err != nil || version != schemaVersion {
		t.Fatalf("user_version = %d (%v), want %d", version, err, schemaVersion)
	}
	err = v.db.QueryRow("SELECT count(*) FROM sqlite_schema WHERE tbl_name IN ('records', 'records_v1') AND name NOT IN ('records', 'records_ns', 'records_id')").Scan(&autoIndexes)
	if err != nil || autoIndexes != 0 {
		t.Fatalf("%d objects of version 1 left (%v)", autoIndexes, err)
	}
	if again, err := v.UnsafeSealedForTests("ns", "7"); err != nil || !bytes.Equal(again, sealed) {
		t.Fatalf("record re-sealed or lost by the migration (%v)", err)
	}
	mustGet(t, v, "other", "x", "y")
	if added, err := addOne(v, "ns", "5", "new"); err != nil || added {
		t.Fatalf("Add of a migrated record = %v, %v; want not added", added, err)
	}
	mustPut(t, v, "ns", "300", "after")
	model["300"], keys = "after", append(keys, "300")
	if err := v.Delete("ns", "0"); err != nil {
		t.Fatal(err)
	}
	delete(model, "0")
	checkModel(t, v, "ns", model, keys)
	v.Close()
}

// TestMigrateARealV1Vault opens a vault that the code before schema
// version 2 wrote (testdata/v1: 500 records, a third deleted, Compact,
// 100 more; made by commit ee0e7f9 with the cheap test KDF and testPIN)
// and checks every record, the version, and that writes work.
func TestMigrateARealV1Vault(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "vault")
	if err := os.CopyFS(dir, os.DirFS("testdata/v1")); err != nil {
		t.Fatal(err)
	}
	v := mustOpen(t, dir, testPIN, Options{})
	defer v.Close()
	var version int
	if err := v.db.QueryRow("PRAGMA user_version").Scan(&version); err != nil || version != schemaVersion {
		t.Fatalf("user_version = %d (%v), want %d", version, err, schemaVersion)
	}
	model := map[string]string{}
	var keys []string
	for k := range 600 {
		key := fmt.Sprint("m", k)
		keys = append(keys, key)
		if k >= 500 || k%3 != 0 {
			model[key] = fmt.Sprint("message ", k)
		}
	}
	checkModel(t, v, "history", model, keys)
	mustGet(t, v, "contacts", "alice", "trusted")
	if added, err := addOne(v, "history", "m1", "again"); err != nil || added {
		t.Fatalf("Add of a migrated record = %v, %v", added, err)
	}
	mustPut(t, v, "history", "m0", "back")
	mustGet(t, v, "history", "m0", "back")
}

// TestInterruptedMigrationLeavesV1 fails the migration at its last
// statement: Open succeeds on version 1 (its statements read and write
// the records), the database is still version 1 with nothing of the
// migration in it, and the next Open migrates it. It fails if the
// migration is not one transaction, or if a failed one fails Open.
func TestInterruptedMigrationLeavesV1(t *testing.T) {
	v, dir := newVault(t, Options{})
	mustPut(t, v, "ns", "k", "v")
	if _, err := v.db.Exec(schemaV1Test); err != nil {
		t.Fatal(err)
	}
	v.Close()
	full := migrateV1Statements
	n := len(full)
	migrateV1Statements = append(slices.Clone(full[:n-1]), "INSERT INTO no_such_table VALUES(1)", full[n-1])
	v, err := Open(context.Background(), dir, testPIN, Options{})
	migrateV1Statements = full
	if err != nil {
		t.Fatalf("Open with a failing migration: %v; want the vault at version 1", err)
	}
	// It works on version 1: reads, writes, Add of an existing record.
	mustGet(t, v, "ns", "k", "v")
	mustPut(t, v, "ns", "k2", "v2")
	if added, err := addOne(v, "ns", "k", "again"); err != nil || added {
		t.Fatalf("Add of an existing record on version 1 = %v, %v", added, err)
	}
	if err := v.Delete("ns", "k2"); err != nil {
		t.Fatal(err)
	}
	v.Close()
	db, err := openDB(dir, derive(unwrapForTest(t, dir), nil, labelSQLiteXTS, xtsKeySize))
	if err != nil {
		t.Fatal(err)
	}
	var version, rows, v2Objects int
	err = db.QueryRow(`SELECT (SELECT user_version FROM pragma_user_version), (SELECT count(*) FROM records),
		(SELECT count(*) FROM sqlite_schema WHERE name IN ('records_id', 'records_v1'))`).Scan(&version, &rows, &v2Objects)
	db.Close()
	if err != nil || version != schemaV1 || rows != 1 || v2Objects != 0 {
		t.Fatalf("after a failed migration: version %d, %d records, %d objects of the migration (%v); want version 1, 1, 0",
			version, rows, v2Objects, err)
	}
	v = mustOpen(t, dir, testPIN, Options{})
	mustGet(t, v, "ns", "k", "v")
	v.Close()
}

// TestNewerSchemaIsNotCorrupt opens a vault whose database claims a
// newer schema version: ErrNewerVersion, not ErrCorrupt (which the app
// would answer by offering to start over), and the file is unchanged.
func TestNewerSchemaIsNotCorrupt(t *testing.T) {
	v, dir := newVault(t, Options{})
	mustPut(t, v, "ns", "k", "v")
	if _, err := v.db.Exec(fmt.Sprintf("PRAGMA user_version = %d", schemaVersion+1)); err != nil {
		t.Fatal(err)
	}
	v.Close()
	_, err := Open(context.Background(), dir, testPIN, Options{})
	if !errors.Is(err, ErrNewerVersion) || errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open = %v; want ErrNewerVersion and not ErrCorrupt", err)
	}
}

// TestListRefusesADuplicateKey puts a second row for a key (what only a
// holder of the data key could write: version 1's unique index refused
// it, version 2's writing statements never make it): List fails with
// ErrCorrupt instead of returning the key twice.
func TestListRefusesADuplicateKey(t *testing.T) {
	v, _ := newVault(t, Options{})
	defer v.Close()
	mustPut(t, v, "ns", "k", "old")
	sealed, err := v.UnsafeSealedForTests("ns", "k")
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, v, "ns", "k", "new")
	_, err = v.db.Exec("INSERT INTO records(id, ns, val) VALUES(?, ?, ?)", v.keys.recordID("ns", "k"), v.keys.nsTag("ns"), sealed)
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.List("ns")
	wantErr(t, err, ErrCorrupt)
}

// addOne is Add in an Update of its own.
func addOne(v *Vault, ns, key, val string) (added bool, err error) {
	err = v.Update(func(tx *Tx) error { added, err = tx.Add(ns, key, []byte(val)); return err })
	return added, err
}

// replaceOne is Replace in an Update of its own.
func replaceOne(v *Vault, ns, key, val string) (replaced bool, err error) {
	err = v.Update(func(tx *Tx) error { replaced, err = tx.Replace(ns, key, []byte(val)); return err })
	return replaced, err
}
