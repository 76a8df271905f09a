package server

import (
	"context"
	"testing"
	"time"

	"parley.dev/internal/audit"
	"parley.dev/internal/store/storetest"
)

// TestAuditRetention: the sweep prunes audit entries older than the
// retention, leaves newer ones, logs the prune in the chain, and the log
// still verifies.
func TestAuditRetention(t *testing.T) {
	dir := t.TempDir()
	conf, err := DevTLS(dir)
	if err != nil {
		t.Fatal(err)
	}
	clk := storetest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	s := &Server{DataDir: dir, TLSConfig: conf, Now: clk.Now, AuditRetention: 24 * time.Hour, SweepInterval: time.Hour}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	r, ctx := s.r, context.Background()
	for _, u := range []string{"u1", "u2", "u3"} {
		r.auditEvent(ctx, audit.Register, "relay", u, "")
	}
	clk.Advance(23 * time.Hour)
	r.auditEvent(ctx, audit.Register, "relay", "u4", "")
	r.sweep()
	if log, _ := r.store.AuditLog(ctx, 0, 100); len(log) != 4 {
		t.Fatalf("pruned within the retention: %d entries left", len(log))
	}
	clk.Advance(2 * time.Hour) // u1..u3 are 25 hours old, u4 2 hours
	r.sweep()
	log, err := r.store.AuditLog(ctx, 0, 100)
	if err != nil || len(log) != 2 || log[0].Subject != "u4" || log[1].Kind != audit.AuditPrune {
		t.Fatalf("after the prune: %+v, %v", log, err)
	}
	if n, err := s.VerifyAudit(ctx); err != nil || n != 2 {
		t.Fatalf("verify after the prune: %d, %v", n, err)
	}
}
