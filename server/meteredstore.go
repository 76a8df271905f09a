package server

import (
	"context"
	"time"

	"parley.dev/internal/addr"
	"parley.dev/internal/store"
)

// meteredStore records the latency of every store call in the metrics.
type meteredStore struct {
	store.Store
	m *metrics
}

func (s *meteredStore) CreateUser(ctx context.Context, u store.User) error {
	defer s.m.storeOp("create_user", time.Now())
	return s.Store.CreateUser(ctx, u)
}

func (s *meteredStore) ReplaceIdentity(ctx context.Context, u store.User) ([]addr.DeviceID, error) {
	defer s.m.storeOp("replace_identity", time.Now())
	return s.Store.ReplaceIdentity(ctx, u)
}

func (s *meteredStore) User(ctx context.Context, id addr.UserID) (store.User, error) {
	defer s.m.storeOp("user", time.Now())
	return s.Store.User(ctx, id)
}

func (s *meteredStore) AddDevice(ctx context.Context, d store.Device) (addr.DeviceID, error) {
	defer s.m.storeOp("add_device", time.Now())
	return s.Store.AddDevice(ctx, d)
}

func (s *meteredStore) Device(ctx context.Context, a addr.Address) (store.Device, error) {
	defer s.m.storeOp("device", time.Now())
	return s.Store.Device(ctx, a)
}

func (s *meteredStore) Devices(ctx context.Context, u addr.UserID) ([]store.Device, error) {
	defer s.m.storeOp("devices", time.Now())
	return s.Store.Devices(ctx, u)
}

func (s *meteredStore) RevokeDevice(ctx context.Context, a addr.Address) error {
	defer s.m.storeOp("revoke_device", time.Now())
	return s.Store.RevokeDevice(ctx, a)
}

func (s *meteredStore) UseToken(ctx context.Context, hash [32]byte, expires time.Time) error {
	defer s.m.storeOp("use_token", time.Now())
	return s.Store.UseToken(ctx, hash, expires)
}

func (s *meteredStore) Register(ctx context.Context, r store.Registration) (store.Registered, error) {
	defer s.m.storeOp("register", time.Now())
	return s.Store.Register(ctx, r)
}

func (s *meteredStore) SharedKey(ctx context.Context, name string) ([store.SharedKeyLen]byte, error) {
	defer s.m.storeOp("shared_key", time.Now())
	return s.Store.SharedKey(ctx, name)
}

func (s *meteredStore) UseChallenge(ctx context.Context, ch [32]byte, expires time.Time) error {
	defer s.m.storeOp("use_challenge", time.Now())
	return s.Store.UseChallenge(ctx, ch, expires)
}

func (s *meteredStore) PurgeChallenges(ctx context.Context, now time.Time, limit int) (int, error) {
	defer s.m.storeOp("purge_challenges", time.Now())
	return s.Store.PurgeChallenges(ctx, now, limit)
}

func (s *meteredStore) PutPreKeys(ctx context.Context, a addr.Address, up store.PreKeyUpload) error {
	defer s.m.storeOp("put_prekeys", time.Now())
	return s.Store.PutPreKeys(ctx, a, up)
}

func (s *meteredStore) TakeBundle(ctx context.Context, a addr.Address) (store.Bundle, error) {
	defer s.m.storeOp("take_bundle", time.Now())
	return s.Store.TakeBundle(ctx, a)
}

func (s *meteredStore) PreKeyCounts(ctx context.Context, a addr.Address) (store.PreKeyCounts, error) {
	defer s.m.storeOp("prekey_counts", time.Now())
	return s.Store.PreKeyCounts(ctx, a)
}

func (s *meteredStore) Submit(ctx context.Context, envs []store.Envelope) ([]store.SubmitResult, error) {
	defer s.m.storeOp("submit", time.Now())
	return s.Store.Submit(ctx, envs)
}

func (s *meteredStore) Pending(ctx context.Context, to addr.Address, after int64, limit int) ([]store.Envelope, error) {
	defer s.m.storeOp("pending", time.Now())
	return s.Store.Pending(ctx, to, after, limit)
}

func (s *meteredStore) Ack(ctx context.Context, to addr.Address, seqs []int64) (int, error) {
	defer s.m.storeOp("ack", time.Now())
	return s.Store.Ack(ctx, to, seqs)
}

func (s *meteredStore) Expire(ctx context.Context, now time.Time, limit int) ([]store.Expired, error) {
	defer s.m.storeOp("expire", time.Now())
	return s.Store.Expire(ctx, now, limit)
}

func (s *meteredStore) MailboxLen(ctx context.Context, a addr.Address) (int, error) {
	defer s.m.storeOp("mailbox_len", time.Now())
	return s.Store.MailboxLen(ctx, a)
}
