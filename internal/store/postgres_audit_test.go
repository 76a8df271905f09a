package store_test

import (
	"fmt"
	"os"
	"sync"
	"testing"

	"parley.dev/internal/audit"
	"parley.dev/internal/store"
)

// TestPostgresAuditTwoNodes appends from two stores (two relay nodes, two
// writers each) on one database at once: every entry lands in one chain.
func TestPostgresAuditTwoNodes(t *testing.T) {
	base := cmpOr(os.Getenv("PARLEY_TEST_POSTGRES"), defaultPostgres)
	admin := postgresAdmin(t, base)
	schema := fmt.Sprintf("audit_nodes_%d", os.Getpid())
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`) })
	dsn := withSearchPath(t, base, schema)
	var nodes []store.Store
	for range 2 {
		s, err := store.Open(t.Context(), dsn, store.Options{Writers: 2})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		nodes = append(nodes, s)
	}
	const perNode, workers = 20, 4
	var wg sync.WaitGroup
	errs := make(chan error, len(nodes)*perNode*workers)
	for n, s := range nodes {
		for w := range workers {
			wg.Go(func() {
				for i := range perNode {
					_, err := s.AppendAudit(t.Context(), audit.Entry{Kind: audit.TokenUse, Actor: fmt.Sprintf("node%d", n), Subject: fmt.Sprintf("w%d-%d", w, i)})
					errs <- err
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range nodes {
		if n, err := store.VerifyAudit(t.Context(), s); err != nil || n != int64(len(nodes)*perNode*workers) {
			t.Fatalf("VerifyAudit = %d, %v", n, err)
		}
	}
}
