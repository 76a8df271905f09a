package store

import (
	"context"
	"fmt"
	"time"
)

// PolicyStore keeps the tenant's signed policies (internal/policy). The
// store sees opaque documents with a version; the caller checked the form.
type PolicyStore interface {
	// PublishPolicy stores a signed policy document of version v. It fails
	// with ErrExists, storing nothing, unless v is above every version
	// stored (a policy is never replaced or rolled back), and with
	// ErrInvalid for an empty or oversized document or a version of 0.
	PublishPolicy(ctx context.Context, v uint64, doc []byte) error
	// LatestPolicy returns the newest document and its version, or
	// ErrNotFound when none was published.
	LatestPolicy(ctx context.Context) (v uint64, doc []byte, err error)
}

// MaxPolicyDoc is the largest policy document the store keeps.
const MaxPolicyDoc = 4 << 10

const (
	qMaxPolicy     = `SELECT COALESCE(MAX(version), 0) FROM policies`
	qInsertPolicy  = `INSERT INTO policies (version, published, doc) VALUES ($1, $2, $3)`
	qLatestPolicy  = `SELECT version, doc FROM policies ORDER BY version DESC LIMIT 1`
	maxPolicyValue = 1 << 62
)

func (s *sqlStore) PublishPolicy(ctx context.Context, v uint64, doc []byte) error {
	if v == 0 || v > maxPolicyValue || len(doc) == 0 || len(doc) > MaxPolicyDoc {
		return fmt.Errorf("%w: policy version %d of %d bytes", ErrInvalid, v, len(doc))
	}
	now := orNow(time.Time{}, s.opt.Now)
	return s.w.do(ctx, "", true, 1, func(t *txn) error {
		var have int64
		if _, err := t.queryRow(qMaxPolicy, nil, &have); err != nil {
			return err
		}
		if uint64(have) >= v {
			return fmt.Errorf("%w: policy version %d is not above the published %d", ErrExists, v, have)
		}
		_, err := t.exec(qInsertPolicy, int64(v), micros(now), doc)
		return err
	})
}

func (s *sqlStore) LatestPolicy(ctx context.Context) (uint64, []byte, error) {
	var v int64
	var doc []byte
	ok, err := s.queryRow(ctx, qLatestPolicy, nil, &v, &doc)
	if err != nil {
		return 0, nil, err
	}
	if !ok {
		return 0, nil, fmt.Errorf("%w: no policy published", ErrNotFound)
	}
	return uint64(v), doc, nil
}

// The writer prepares its statements when it starts (queries.go).
func init() { writeQueries = append(writeQueries, qMaxPolicy, qInsertPolicy) }
