package server_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"parley.dev/internal/blob"
	"parley.dev/internal/store"
	"parley.dev/server"
)

// TestMigrateBothDatabases: Migrate brings the store and the blob store
// (here both in one PostgreSQL schema) up to date, once; a relay with
// NoMigrate refuses the schema before and starts after.
func TestMigrateBothDatabases(t *testing.T) {
	dsn := pgSchema(t)
	ctx := context.Background()
	tlsConf, err := server.DevTLS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := func() *server.Server {
		return &server.Server{StoreDSN: dsn, NoMigrate: true, TLSConfig: tlsConf}
	}
	if err := cfg().Start(ctx); !errors.Is(err, store.ErrSchemaBehind) {
		t.Fatalf("Start(NoMigrate) of a fresh schema: %v, want ErrSchemaBehind", err)
	}
	want := []server.Migration{{Database: "store", From: 0, To: store.SchemaVersion()}, {Database: "blobs", From: 0, To: blob.SchemaVersion()}}
	for range 2 {
		got, err := cfg().Migrate(ctx)
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("Migrate = %+v, %v; want %+v", got, err, want)
		}
		want = []server.Migration{{Database: "store", From: store.SchemaVersion(), To: store.SchemaVersion()}, {Database: "blobs", From: blob.SchemaVersion(), To: blob.SchemaVersion()}}
	}
	s := cfg()
	if err := s.Start(ctx); err != nil {
		t.Fatalf("Start(NoMigrate) after Migrate: %v", err)
	}
	s.Shutdown(ctx)
}
