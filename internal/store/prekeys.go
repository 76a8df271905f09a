package store

import (
	"context"
	"fmt"

	"parley.dev/internal/addr"
)

// prekeyKind is the kind column of the prekey tables: in signed_prekeys,
// kindEC is the signed X25519 prekey and kindKEM the last-resort ML-KEM
// key; in one_time_prekeys they are the two kinds of one-time keys.
type prekeyKind int64

const (
	kindEC  prekeyKind = 1
	kindKEM prekeyKind = 2
)

func (s *sqlStore) PutPreKeys(ctx context.Context, a addr.Address, up PreKeyUpload) error {
	if err := checkUpload(a, up); err != nil {
		return err
	}
	return s.w.do(ctx, a.User, true, 1+len(up.OneTimeEC)+len(up.OneTimeKEM), func(t *txn) error {
		if m, err := t.mailbox(a); err != nil || m.gone {
			return notFound(err, a)
		}
		for _, k := range []struct {
			kind prekeyKind
			keys []PreKey
		}{{kindEC, up.OneTimeEC}, {kindKEM, up.OneTimeKEM}} {
			if err := checkRoom(t, a, k.kind, k.keys); err != nil {
				return err
			}
		}
		return putPreKeys(t, a, up)
	})
}

// notFound returns err, or else ErrNotFound for a's device.
func notFound(err error, a addr.Address) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("%w: device %s", ErrNotFound, a)
}

func checkUpload(a addr.Address, up PreKeyUpload) error {
	if err := checkAddr(a); err != nil {
		return err
	}
	for _, k := range []*PreKey{up.Signed, up.LastResortKEM} {
		if k == nil {
			continue
		}
		if err := checkPreKey(*k, false); err != nil {
			return err
		}
	}
	for _, keys := range [][]PreKey{up.OneTimeEC, up.OneTimeKEM} {
		if len(keys) > MaxOneTimePreKeys {
			return fmt.Errorf("%w: %d one-time prekeys in one upload", ErrLimit, len(keys))
		}
		seen := make(map[uint32]bool, len(keys))
		for _, k := range keys {
			if err := checkPreKey(k, true); err != nil {
				return err
			}
			if seen[k.ID] {
				return fmt.Errorf("%w: prekey ID %d twice in one upload", ErrInvalid, k.ID)
			}
			seen[k.ID] = true
		}
	}
	return nil
}

func checkPreKey(k PreKey, unsignedOK bool) error {
	if err := checkValue("prekey", k.Public, false); err != nil {
		return err
	}
	return checkValue("prekey signature", k.Signature, unsignedOK)
}

// checkRoom fails with ErrLimit if keys would overflow the device's stored
// one-time keys of kind or reuse a stored ID.
func checkRoom(t *txn, a addr.Address, kind prekeyKind, keys []PreKey) error {
	if len(keys) == 0 {
		return nil
	}
	rows, err := t.query(qOneTimeIDs, string(a.User), int64(a.Device), int64(kind))
	if err != nil {
		return err
	}
	defer rows.Close()
	have := map[uint32]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return fmt.Errorf("store: prekeys: %w", err)
		}
		have[uint32(id)] = true
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: prekeys: %w", err)
	}
	if len(have)+len(keys) > MaxOneTimePreKeys {
		return fmt.Errorf("%w: device %s would have %d one-time prekeys", ErrLimit, a, len(have)+len(keys))
	}
	for _, k := range keys {
		if have[k.ID] {
			return fmt.Errorf("%w: device %s already has prekey ID %d", ErrLimit, a, k.ID)
		}
	}
	return nil
}

func putPreKeys(t *txn, a addr.Address, up PreKeyUpload) error {
	u, d := string(a.User), int64(a.Device)
	for _, s := range []struct {
		kind prekeyKind
		key  *PreKey
	}{{kindEC, up.Signed}, {kindKEM, up.LastResortKEM}} {
		if s.key == nil {
			continue
		}
		if _, err := t.exec(qPutSigned, u, d, int64(s.kind), int64(s.key.ID), s.key.Public, nonNil(s.key.Signature)); err != nil {
			return err
		}
	}
	for kind, keys := range map[prekeyKind][]PreKey{kindEC: up.OneTimeEC, kindKEM: up.OneTimeKEM} {
		for _, k := range keys {
			if _, err := t.exec(qPutOneTime, u, d, int64(kind), int64(k.ID), k.Public, nonNil(k.Signature)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *sqlStore) TakeBundle(ctx context.Context, a addr.Address) (Bundle, error) {
	if err := checkAddr(a); err != nil {
		return Bundle{}, err
	}
	var b Bundle
	err := s.w.do(ctx, a.User, true, 1, func(t *txn) (err error) {
		b, err = takeBundle(t, a)
		return err
	})
	if err != nil {
		return Bundle{}, err // the writer may still be running the op: leave b alone
	}
	return b, nil
}

// takeBundle reads before it deletes, so that ErrNotFound leaves every key
// in place.
func takeBundle(t *txn, a addr.Address) (Bundle, error) {
	var b Bundle
	if m, err := t.mailbox(a); err != nil || m.gone {
		return b, notFound(err, a)
	}
	ok, err := readPreKey(t, qSigned, a, kindEC, &b.Signed)
	if err != nil || !ok {
		return b, notFound(err, a)
	}
	ok, err = readPreKey(t, qTakeOneTime, a, kindKEM, &b.KEM)
	if err == nil && !ok {
		b.KEMLastResort = true
		ok, err = readPreKey(t, qSigned, a, kindKEM, &b.KEM)
	}
	if err != nil || !ok {
		return b, notFound(err, a)
	}
	var ec PreKey
	if ok, err = readPreKey(t, qTakeOneTime, a, kindEC, &ec); ok {
		b.OneTimeEC = &ec
	}
	return b, err
}

// readPreKey runs a prekey query (a read, or a DELETE ... RETURNING) for
// a's key of kind into k.
func readPreKey(t *txn, q string, a addr.Address, kind prekeyKind, k *PreKey) (bool, error) {
	var id int64
	ok, err := t.queryRow(q, []any{string(a.User), int64(a.Device), int64(kind)}, &id, &k.Public, &k.Signature)
	k.ID, k.Signature = uint32(id), orNil(k.Signature)
	return ok, err
}
