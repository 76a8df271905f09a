package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"parley.dev/internal/audit"
	"parley.dev/internal/store"
)

// auditEvent appends a security event to the store's hash-chained audit
// log (internal/audit). It runs after the action committed: a failed
// append cannot undo it, so it is logged at error level with the event's
// kind and subject, never dropped in silence. Entries carry no content
// and no contact graph: only who did what to which account or device.
func (r *relay) auditEvent(ctx context.Context, kind audit.Kind, actor, subject, detail string) {
	e := audit.Entry{Kind: kind, Actor: actor, Subject: subject, Detail: detail}
	if _, err := r.store.AppendAudit(context.WithoutCancel(ctx), e); err != nil {
		r.log.Error("audit: append failed; the event happened but is not in the log",
			"kind", string(kind), "subject", subject, "err", err)
	}
}

// openAuditStore opens the relay's store for reading the audit log, as it
// is: no migration, so that an auditor's copy of a database is not changed.
func (s *Server) openAuditStore(ctx context.Context) (store.Store, error) {
	if s.DataDir == "" && s.StoreDSN == "" {
		return nil, fmt.Errorf("server: no DataDir or StoreDSN")
	}
	st, err := store.Open(ctx, s.storeDSN(), store.Options{NoMigrate: true})
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	return st, nil
}

// VerifyAudit checks the whole audit log of the relay's store (DataDir or
// StoreDSN; the relay may be running or not) and returns how many entries
// it checked. An edited, deleted, inserted or reordered entry gives an
// error wrapping audit.ErrBroken that names the first entry that breaks.
func (s *Server) VerifyAudit(ctx context.Context) (int64, error) {
	st, err := s.openAuditStore(ctx)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	return store.VerifyAudit(ctx, st)
}

// ExportAudit writes the audit entries created at or after since to w as
// JSON lines, oldest first, and returns how many it wrote. It does not
// verify them: run VerifyAudit for that.
func (s *Server) ExportAudit(ctx context.Context, since time.Time, w io.Writer) (int, error) {
	st, err := s.openAuditStore(ctx)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	enc := json.NewEncoder(w)
	n := 0
	for after := int64(0); ; {
		page, err := st.AuditLog(ctx, after, store.MaxBatch)
		if err != nil {
			return n, fmt.Errorf("server: %w", err)
		}
		for _, e := range page {
			after = e.Seq
			if e.Time.Before(since) {
				continue
			}
			if err := enc.Encode(e); err != nil {
				return n, err
			}
			n++
		}
		if len(page) < store.MaxBatch {
			return n, nil
		}
	}
}
