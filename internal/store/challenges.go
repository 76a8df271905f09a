package store

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"
)

// Device authentication state shared by every relay node on one database:
// the key challenges are MACed with, and the challenges already used.

// SharedKeyLen is the size of a SharedKey secret.
const SharedKeyLen = 32

// maxKeyName bounds a SharedKey name.
const maxKeyName = 64

const (
	qSharedKey    = `SELECT secret FROM shared_keys WHERE name = $1`
	qPutSharedKey = `INSERT INTO shared_keys (name, secret, created) VALUES ($1, $2, $3)
ON CONFLICT (name) DO NOTHING`
	qUseChallenge = `INSERT INTO used_challenges (challenge, expires) VALUES ($1, $2)
ON CONFLICT (challenge) DO NOTHING`
	qPurgeChallenges = `DELETE FROM used_challenges WHERE challenge IN
(SELECT challenge FROM used_challenges WHERE expires <= $1 LIMIT $2)`
)

// challengeQueries are the writer's statements of this file.
var challengeQueries = []string{qSharedKey, qPutSharedKey, qUseChallenge, qPurgeChallenges}

func (s *sqlStore) SharedKey(ctx context.Context, name string) ([SharedKeyLen]byte, error) {
	var key [SharedKeyLen]byte
	if err := checkKeyName(name); err != nil {
		return key, err
	}
	var got []byte
	ok, err := s.queryRow(ctx, qSharedKey, []any{name}, &got)
	if err != nil {
		return key, err
	}
	if !ok {
		// Whichever node inserts first wins; the others read its key in
		// the same transaction as their insert that did nothing.
		fresh := make([]byte, SharedKeyLen)
		rand.Read(fresh) // never fails; see crypto/rand.Read
		now := micros(s.opt.Now())
		err = s.w.do(ctx, "", true, 1, func(t *txn) error {
			if _, err := t.exec(qPutSharedKey, name, fresh, now); err != nil {
				return err
			}
			_, err := t.queryRow(qSharedKey, []any{name}, &got)
			return err
		})
		if err != nil {
			return key, err
		}
	}
	if len(got) != SharedKeyLen {
		return key, fmt.Errorf("store: shared key %q is %d bytes, want %d", name, len(got), SharedKeyLen)
	}
	copy(key[:], got)
	return key, nil
}

func checkKeyName(name string) error {
	if len(name) == 0 || len(name) > maxKeyName {
		return fmt.Errorf("%w: key name of %d bytes", ErrInvalid, len(name))
	}
	for i := range len(name) {
		if name[i] < 0x21 || name[i] > 0x7e {
			return fmt.Errorf("%w: key name %q", ErrInvalid, name)
		}
	}
	return nil
}

func (s *sqlStore) UseChallenge(ctx context.Context, challenge [32]byte, expires time.Time) error {
	if err := checkTime("challenge expiry", expires); err != nil {
		return err
	}
	return s.w.do(ctx, "", true, 1, func(t *txn) error {
		n, err := t.exec(qUseChallenge, challenge[:], micros(expires))
		if err != nil {
			return err
		}
		if n == 0 {
			return ErrChallengeUsed
		}
		return nil
	})
}

func (s *sqlStore) PurgeChallenges(ctx context.Context, now time.Time, limit int) (int, error) {
	if limit < 1 {
		return 0, fmt.Errorf("%w: purge limit %d", ErrInvalid, limit)
	}
	if err := checkTime("purge time", now); err != nil {
		return 0, err
	}
	limit = min(limit, MaxBatch)
	var n int64
	err := s.w.do(ctx, "", false, 1, func(t *txn) (err error) {
		n, err = t.exec(qPurgeChallenges, micros(now), limit)
		return err
	})
	return int(n), err
}
