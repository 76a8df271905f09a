package server

import (
	"context"
	"fmt"
	"path/filepath"

	"parley.dev/internal/blob"
	"parley.dev/internal/private"
	"parley.dev/internal/store"
)

// Migration is what Migrate did to one of the relay's databases.
type Migration struct {
	// Database is "store" (accounts, devices, prekeys, mailboxes) or
	// "blobs" (attachment blobs).
	Database string
	// From and To are its schema versions before and after; equal when
	// there was nothing to do.
	From, To int
}

// Migrate brings the schemas of the relay's databases, its store and its
// blob store, up to date without starting the relay, and says what it did.
// It reads DataDir and StoreDSN only, as Start would. Several processes may
// migrate, or Start, at once: on PostgreSQL each schema's migrations take
// an advisory lock, so one migrates while the others wait. A relay started
// with NoMigrate afterwards only checks the schemas.
func (s *Server) Migrate(ctx context.Context) ([]Migration, error) {
	if s.DataDir == "" && s.StoreDSN == "" {
		return nil, fmt.Errorf("server: no DataDir or StoreDSN")
	}
	if err := s.prepareDataDir(); err != nil {
		return nil, err
	}
	from, to, err := store.Migrate(ctx, s.storeDSN())
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	out := []Migration{{Database: "store", From: from, To: to}}
	if pg, where := s.blobLocation(); pg {
		from, to, err = blob.MigratePostgres(ctx, where)
	} else {
		from, to, err = blob.MigrateDisk(ctx, where)
	}
	if err != nil {
		return out, fmt.Errorf("server: %w", err)
	}
	return append(out, Migration{Database: "blobs", From: from, To: to}), nil
}

// storeDSN names the relay's store: StoreDSN, or the SQLite file in
// DataDir.
func (s *Server) storeDSN() string {
	if s.StoreDSN != "" {
		return s.StoreDSN
	}
	return filepath.Join(s.DataDir, DatabaseFile)
}

// prepareDataDir makes DataDir, if set, private to the relay's user:
// created 0700, and whatever an earlier version or a careless copy left
// readable by others tightened.
func (s *Server) prepareDataDir() error {
	if s.DataDir == "" {
		return nil
	}
	if err := private.Dir(s.DataDir); err != nil {
		return fmt.Errorf("server: data directory: %w", err)
	}
	if err := private.Tighten(s.DataDir); err != nil {
		return fmt.Errorf("server: data directory: %w", err)
	}
	return nil
}
