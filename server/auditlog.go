package server

import (
	"context"
	"fmt"

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
