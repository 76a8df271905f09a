package server

import (
	"context"
	"fmt"
	"time"

	"parley.dev/internal/store"
)

// openStoreOffline opens s's store without starting the relay, for
// commands an operator or auditor runs on a database (or a copy of one).
func (s *Server) openStoreOffline(ctx context.Context) (store.Store, error) {
	if s.DataDir == "" && s.StoreDSN == "" {
		return nil, fmt.Errorf("server: no DataDir or StoreDSN")
	}
	if err := s.prepareDataDir(); err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, s.storeDSN(), store.Options{})
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	return st, nil
}

// VerifyAuditLog checks the stored audit log's hash chain without
// starting the relay and returns how many entries it checked. An edited,
// deleted or reordered entry is an error wrapping audit.ErrBroken.
func (s *Server) VerifyAuditLog(ctx context.Context) (int64, error) {
	st, err := s.openStoreOffline(ctx)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	return store.VerifyAudit(ctx, st)
}

// ExportAuditLog calls each for every stored audit entry made at or after
// since, in order, without starting the relay.
func (s *Server) ExportAuditLog(ctx context.Context, since time.Time, each func(AuditEntry) error) error {
	st, err := s.openStoreOffline(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	var after int64
	for {
		page, err := st.AuditLog(ctx, after, store.MaxBatch)
		if err != nil {
			return err
		}
		for _, e := range page {
			after = e.Seq
			if e.Time.Before(since) {
				continue
			}
			if err := each(e); err != nil {
				return err
			}
		}
		if len(page) < store.MaxBatch {
			return nil
		}
	}
}
