package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"parley.dev/internal/audit"
	"parley.dev/internal/policy"
	"parley.dev/internal/store"
	"parley.dev/internal/wire"
)

// The tenant policy (internal/policy): the relay keeps the signed
// documents an administrator publishes and serves the newest to anyone
// who asks. It cannot sign one, and it does not verify the signature:
// clients do, against the key their app embeds (docs/threat-model.md,
// "Tenant policy").

// handlePolicy answers GET /v1/policy with the newest policy, or
// CodeNoPolicy.
func (r *relay) handlePolicy(w http.ResponseWriter, req *http.Request) {
	_, doc, err := r.store.LatestPolicy(req.Context())
	switch {
	case errors.Is(err, store.ErrNotFound):
		r.writeError(w, wire.Errorf(wire.CodeNoPolicy, "no policy published"))
	case err != nil:
		r.log.Error("policy", "err", err)
		r.writeError(w, wire.Errorf(wire.CodeUnavailable, "policy"))
	default:
		r.writeFrame(w, &wire.Policy{Doc: doc})
	}
}

// expires is when an envelope submitted at now with a TTL in seconds
// (0: none) expires: the zero time (the store's mailbox TTL) unless the TTL
// is shorter than the mailbox TTL.
func (r *relay) expires(now time.Time, ttl uint32) time.Time {
	if d := time.Duration(ttl) * time.Second; ttl != 0 && d < r.ttl {
		return now.Add(d)
	}
	return time.Time{}
}

// ErrPolicyStale: PublishPolicy was given a policy whose version is not
// above the newest one published.
var ErrPolicyStale = errors.New("server: the policy's version is not above the published one")

// PublishPolicy stores a signed policy document (from `parleyd policy
// sign`) in the relay's store, which serves it from then on, on every node.
// It reads DataDir and StoreDSN only, as Migrate does, and may run while
// the relay runs on PostgreSQL (SQLite: while it is stopped, or through
// the admin console). The relay checks the document's form, never its
// signature. It returns the version published; a version not above the
// newest is ErrPolicyStale.
func (s *Server) PublishPolicy(ctx context.Context, doc []byte) (uint64, error) {
	st, err := s.openStoreOffline(ctx)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	return publishPolicy(ctx, st, doc)
}

// publishPolicy stores doc in st and logs it in the audit log.
func publishPolicy(ctx context.Context, st store.Store, doc []byte) (uint64, error) {
	if len(doc) > wire.MaxPolicy {
		return 0, fmt.Errorf("server: policy of %d bytes above %d", len(doc), wire.MaxPolicy)
	}
	signed, err := policy.Parse(doc)
	if err != nil {
		return 0, fmt.Errorf("server: %w", err)
	}
	v := signed.Policy.Version
	if err := st.PublishPolicy(ctx, v, doc); err != nil {
		if errors.Is(err, store.ErrExists) {
			return 0, fmt.Errorf("%w: version %d", ErrPolicyStale, v)
		}
		return 0, fmt.Errorf("server: %w", err)
	}
	e := audit.Entry{Kind: audit.PolicyPublish, Actor: "admin", Subject: "policy", Detail: fmt.Sprintf("version %d", v)}
	if _, err := st.AppendAudit(ctx, e); err != nil {
		return v, fmt.Errorf("server: policy %d published, but not logged in the audit log: %w", v, err)
	}
	return v, nil
}
