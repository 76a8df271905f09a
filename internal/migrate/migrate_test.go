package migrate_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/ncruces/go-sqlite3/driver"

	"parley.dev/internal/migrate"
	"parley.dev/internal/pgtest"
)

var sqlite = migrate.Dialect{TableExists: `SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1`}

// files returns n migrations, each creating table tN (with two statements
// and a comment, as real ones have).
func files(n int) fstest.MapFS {
	fs := fstest.MapFS{}
	for i := 1; i <= n; i++ {
		name := "m/000" + string(rune('0'+i)) + "_t.sql"
		t := "t" + string(rune('0'+i))
		fs[name] = &fstest.MapFile{Data: []byte("-- table " + t + "\nCREATE TABLE " + t + " (\n\tx BIGINT\n);\nCREATE INDEX " + t + "_x ON " + t + " (x);\n")}
	}
	return fs
}

func set(n int) migrate.Set {
	return migrate.Set{Name: "test", Files: files(n), Dir: "m", Table: "test_version"}
}

func openSQLite(t *testing.T) *sql.DB {
	db, err := driver.Open(filepath.Join(t.TempDir(), "m.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestMigrateSQLite(t *testing.T) {
	db := openSQLite(t)
	ctx := context.Background()
	if err := set(2).Check(ctx, db, sqlite); !errors.Is(err, migrate.ErrBehind) {
		t.Fatalf("Check of an empty database: %v, want ErrBehind", err)
	}
	var n int
	db.QueryRow(`SELECT COUNT(*) FROM sqlite_schema`).Scan(&n)
	if n != 0 {
		t.Fatalf("Check created %d schema objects", n)
	}
	if from, to, err := set(2).Migrate(ctx, db, sqlite); err != nil || from != 0 || to != 2 {
		t.Fatalf("Migrate = %d, %d, %v", from, to, err)
	}
	if err := set(2).Check(ctx, db, sqlite); err != nil {
		t.Fatalf("Check after Migrate: %v", err)
	}
	if err := set(3).Check(ctx, db, sqlite); !errors.Is(err, migrate.ErrBehind) {
		t.Fatalf("Check by newer code: %v", err)
	}
	if from, to, err := set(3).Migrate(ctx, db, sqlite); err != nil || from != 2 || to != 3 {
		t.Fatalf("Migrate to 3 = %d, %d, %v", from, to, err)
	}
	if from, to, err := set(3).Migrate(ctx, db, sqlite); err != nil || from != 3 || to != 3 {
		t.Fatalf("Migrate again = %d, %d, %v", from, to, err)
	}
	for _, err := range []error{set(2).Check(ctx, db, sqlite), func() error { _, _, err := set(2).Migrate(ctx, db, sqlite); return err }()} {
		if err == nil || !strings.Contains(err.Error(), "newer") {
			t.Errorf("older code on a newer schema: %v", err)
		}
	}
	db.QueryRow(`SELECT COUNT(*) FROM test_version`).Scan(&n)
	if n != 1 {
		t.Errorf("version table has %d rows, want 1", n)
	}
}

// TestMigrateOneRowPerVersion: a version table that kept one row per
// migration (the blob store's first layout) reads as its largest.
func TestMigrateOneRowPerVersion(t *testing.T) {
	db := openSQLite(t)
	ctx := context.Background()
	if _, _, err := set(1).Migrate(ctx, db, sqlite); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DELETE FROM test_version; INSERT INTO test_version VALUES (0); INSERT INTO test_version VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	if from, to, err := set(2).Migrate(ctx, db, sqlite); err != nil || from != 1 || to != 2 {
		t.Fatalf("Migrate = %d, %d, %v", from, to, err)
	}
	if err := set(2).Check(ctx, db, sqlite); err != nil {
		t.Fatal(err)
	}
}

func TestMigrateFailureChangesNothing(t *testing.T) {
	db := openSQLite(t)
	ctx := context.Background()
	bad := set(2)
	bad.Files.(fstest.MapFS)["m/0002_t.sql"] = &fstest.MapFile{Data: []byte("CREATE TABLE t1 (x BIGINT);\n")}
	if _, _, err := bad.Migrate(ctx, db, sqlite); err == nil || !strings.Contains(err.Error(), "0002_t.sql") {
		t.Fatalf("failing migration: %v", err)
	}
	var n int
	db.QueryRow(`SELECT COUNT(*) FROM sqlite_schema`).Scan(&n)
	if n != 0 {
		t.Fatalf("a failed migration left %d schema objects", n)
	}
	dup := set(1)
	dup.Files.(fstest.MapFS)["m/0001_u.sql"] = &fstest.MapFile{Data: []byte("SELECT 1;")}
	if _, _, err := dup.Migrate(ctx, db, sqlite); err == nil || !strings.Contains(err.Error(), "above 1") {
		t.Fatalf("a number used twice: %v", err)
	}
}

// TestMigrateGap: numbers may skip (reserved by work not landed yet); the
// version is the last number, and a later file is applied.
func TestMigrateGap(t *testing.T) {
	db := openSQLite(t)
	ctx := context.Background()
	gap := set(1)
	gap.Files.(fstest.MapFS)["m/0003_t.sql"] = &fstest.MapFile{Data: []byte("CREATE TABLE t3 (x BIGINT);\n")}
	if from, to, err := gap.Migrate(ctx, db, sqlite); err != nil || from != 0 || to != 3 || gap.Version() != 3 {
		t.Fatalf("Migrate = %d, %d, %v; Version %d", from, to, err, gap.Version())
	}
	if err := gap.Check(ctx, db, sqlite); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO t3 VALUES (1)`); err != nil {
		t.Fatal(err)
	}
}

// TestMigratePostgresConcurrent: nodes migrating one schema at once take
// turns under the advisory lock: one migrates, the others find it done;
// another schema's migration does not wait for them.
func TestMigratePostgresConcurrent(t *testing.T) {
	dsn, _ := pgtest.Schema(t)
	pg := migrate.Dialect{
		Lock:        "SELECT pg_advisory_xact_lock(1, hashtext(current_schema()))",
		TableExists: `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1`,
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	froms := make([]int, 6)
	errs := make([]error, 6)
	for i := range froms {
		wg.Go(func() {
			db, err := sql.Open("pgx", dsn)
			if err != nil {
				errs[i] = err
				return
			}
			defer db.Close()
			froms[i], _, errs[i] = set(3).Migrate(ctx, db, pg)
		})
	}
	wg.Wait()
	zero := 0
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		if froms[i] == 0 {
			zero++
		}
	}
	if zero != 1 {
		t.Fatalf("%d nodes migrated from 0 (%v), want 1", zero, froms)
	}
	db, _ := sql.Open("pgx", dsn)
	defer db.Close()
	if err := set(3).Check(ctx, db, pg); err != nil {
		t.Fatal(err)
	}
}
