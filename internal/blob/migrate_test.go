package blob_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"parley.dev/internal/blob"
	"parley.dev/internal/pgtest"
)

// TestDiskNoMigrate: with NoMigrate a store only checks its schema (a
// fresh one is behind, and nothing is created); MigrateDisk migrates it
// once, then says there is nothing to do, and the store opens.
func TestDiskNoMigrate(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	if s, err := blob.OpenDisk(ctx, dir, blob.Options{NoMigrate: true}); !errors.Is(err, blob.ErrSchemaBehind) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("OpenDisk(NoMigrate) of a fresh store: %v, want ErrSchemaBehind", err)
	}
	want := blob.SchemaVersion()
	for _, from := range []int{0, want} {
		f, to, err := blob.MigrateDisk(ctx, dir)
		if err != nil || f != from || to != want {
			t.Fatalf("MigrateDisk = %d, %d, %v; want %d, %d", f, to, err, from, want)
		}
	}
	s, err := blob.OpenDisk(ctx, dir, blob.Options{NoMigrate: true})
	if err != nil {
		t.Fatalf("OpenDisk(NoMigrate) after MigrateDisk: %v", err)
	}
	s.Close()
}

// TestPostgresMigrations: as TestDiskNoMigrate on PostgreSQL, and the
// migration lock is per schema: a migration holding one schema's lock
// does not hold up another schema's.
func TestPostgresMigrations(t *testing.T) {
	dsn, db := pgtest.Schema(t)
	other, _ := pgtest.Schema(t)
	ctx := context.Background()
	if s, err := blob.OpenPostgres(ctx, dsn, blob.Options{NoMigrate: true}); !errors.Is(err, blob.ErrSchemaBehind) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("OpenPostgres(NoMigrate) of a fresh schema: %v, want ErrSchemaBehind", err)
	}
	var tables int
	db.QueryRow(`SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema()`).Scan(&tables)
	if tables != 0 {
		t.Fatalf("a check created %d tables", tables)
	}
	tx, err := db.Begin() // a migration of this schema in progress
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`SELECT pg_advisory_xact_lock(1114402658, hashtext(current_schema()))`); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, _, err = blob.MigratePostgres(short, dsn)
	cancel()
	if err == nil {
		t.Fatal("MigratePostgres ran while another held the schema's lock")
	}
	if _, _, err := blob.MigratePostgres(ctx, other); err != nil {
		t.Fatalf("another schema waits for this one's lock: %v", err)
	}
	tx.Rollback()
	want := blob.SchemaVersion()
	for _, from := range []int{0, want} {
		f, to, err := blob.MigratePostgres(ctx, dsn)
		if err != nil || f != from || to != want {
			t.Fatalf("MigratePostgres = %d, %d, %v; want %d, %d", f, to, err, from, want)
		}
	}
	s, err := blob.OpenPostgres(ctx, dsn, blob.Options{NoMigrate: true})
	if err != nil {
		t.Fatalf("OpenPostgres(NoMigrate) after MigratePostgres: %v", err)
	}
	s.Close()
}
