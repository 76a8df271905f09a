package storetest

import (
	"bytes"
	"crypto/sha256"
	"slices"
	"strings"
	"testing"
	"time"

	"parley.dev/internal/addr"
	"parley.dev/internal/store"
)

func testUsers(t *testing.T, e *env) {
	ctx, s := e.ctx, e.s
	u := store.User{ID: "alice", Identity: []byte{1, 2, 3}, Created: Epoch.Add(-time.Hour)}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	got, err := s.User(ctx, "alice")
	if err != nil || got.ID != u.ID || !bytes.Equal(got.Identity, u.Identity) || !got.Created.Equal(u.Created) {
		t.Fatalf("User = %+v, %v; want %+v", got, err, u)
	}
	wantErr(t, "CreateUser twice", s.CreateUser(ctx, store.User{ID: "alice", Identity: []byte{9}}), store.ErrExists)
	if got, _ := s.User(ctx, "alice"); !bytes.Equal(got.Identity, u.Identity) {
		t.Fatal("second CreateUser changed the identity")
	}
	_, err = s.User(ctx, "bob")
	wantErr(t, "unknown user", err, store.ErrNotFound)

	// Created defaults to the clock.
	if err := s.CreateUser(ctx, store.User{ID: "bob", Identity: []byte{4}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.User(ctx, "bob"); !got.Created.Equal(Epoch) {
		t.Fatalf("default Created = %v, want %v", got.Created, Epoch)
	}

	bad := []store.User{
		{ID: "Alice", Identity: []byte{1}},
		{ID: "", Identity: []byte{1}},
		{ID: "carol"},
		{ID: "carol", Identity: make([]byte, store.MaxValueLen+1)},
	}
	for _, b := range bad {
		wantErr(t, "CreateUser(bad)", s.CreateUser(ctx, b), store.ErrInvalid)
	}
	_, err = s.User(ctx, "carol")
	wantErr(t, "user after bad CreateUser", err, store.ErrNotFound)
	_, err = s.User(ctx, "no/slash")
	wantErr(t, "User(invalid)", err, store.ErrInvalid)
}

func testDevices(t *testing.T, e *env) {
	ctx, s := e.ctx, e.s
	a1 := e.user("alice")
	a2 := e.device("alice")
	if a1.Device != 1 || a2.Device != 2 {
		t.Fatalf("device IDs %d, %d; want 1, 2", a1.Device, a2.Device)
	}
	d := store.Device{Address: addr.Address{User: "alice", Device: 99}, Key: []byte("k3"), Cert: []byte("c3"), Created: Epoch.Add(time.Minute)}
	id, err := s.AddDevice(ctx, d)
	if err != nil || id != 3 {
		t.Fatalf("AddDevice = %d, %v; want 3 (the given Device is ignored)", id, err)
	}
	d.Address.Device = 3
	got, err := s.Device(ctx, d.Address)
	if err != nil || got.Address != d.Address || !bytes.Equal(got.Key, d.Key) || !bytes.Equal(got.Cert, d.Cert) || !got.Created.Equal(d.Created) {
		t.Fatalf("Device = %+v, %v; want %+v", got, err, d)
	}
	list, err := s.Devices(ctx, "alice")
	if err != nil || len(list) != 3 {
		t.Fatalf("Devices = %v, %v", list, err)
	}
	for i, dev := range list {
		if dev.Address.Device != addr.DeviceID(i+1) {
			t.Fatalf("Devices out of order: %v", list)
		}
	}
	if list, err := s.Devices(ctx, "nobody"); err != nil || len(list) != 0 {
		t.Fatalf("Devices(unknown) = %v, %v; want empty", list, err)
	}

	_, err = s.AddDevice(ctx, store.Device{Address: addr.Address{User: "nobody"}, Key: []byte("k"), Cert: []byte("c")})
	wantErr(t, "AddDevice(unknown user)", err, store.ErrNotFound)
	_, err = s.Device(ctx, addr.Address{User: "alice", Device: 4})
	wantErr(t, "Device(unknown)", err, store.ErrNotFound)

	for _, b := range []store.Device{
		{Address: addr.Address{User: "alice"}, Cert: []byte("c")},
		{Address: addr.Address{User: "alice"}, Key: []byte("k")},
		{Address: addr.Address{User: "alice"}, Key: []byte("k"), Cert: make([]byte, store.MaxValueLen+1)},
		{Address: addr.Address{User: "ALICE"}, Key: []byte("k"), Cert: []byte("c")},
	} {
		_, err := s.AddDevice(ctx, b)
		wantErr(t, "AddDevice(bad)", err, store.ErrInvalid)
	}
	_, err = s.Device(ctx, addr.Address{User: "alice"})
	wantErr(t, "Device(device 0)", err, store.ErrInvalid)

	// Revoked IDs are never reused.
	if err := s.RevokeDevice(ctx, a2); err != nil {
		t.Fatal(err)
	}
	_, err = s.Device(ctx, a2)
	wantErr(t, "Device(revoked)", err, store.ErrNotFound)
	wantErr(t, "RevokeDevice twice", s.RevokeDevice(ctx, a2), store.ErrNotFound)
	if a4 := e.device("alice"); a4.Device != 4 {
		t.Fatalf("device after revocation got ID %d, want 4", a4.Device)
	}
	list, _ = s.Devices(ctx, "alice")
	var ids []addr.DeviceID
	for _, d := range list {
		ids = append(ids, d.Address.Device)
	}
	if !slices.Equal(ids, []addr.DeviceID{1, 3, 4}) {
		t.Fatalf("Devices after revocation = %v, want [1 3 4]", ids)
	}
}

func testDeviceLimit(t *testing.T, e *env) {
	a := e.user("alice")
	for range store.MaxDevices - 1 {
		e.device("alice")
	}
	_, err := e.s.AddDevice(e.ctx, store.Device{Address: addr.Address{User: "alice"}, Key: []byte("k"), Cert: []byte("c")})
	wantErr(t, "AddDevice beyond MaxDevices", err, store.ErrLimit)
	// Revoking one makes room, and the ID counter was not consumed by the
	// refused call.
	if err := e.s.RevokeDevice(e.ctx, a); err != nil {
		t.Fatal(err)
	}
	if d := e.device("alice"); d.Device != store.MaxDevices+1 {
		t.Fatalf("next device ID %d, want %d", d.Device, store.MaxDevices+1)
	}
}

func testReplaceIdentity(t *testing.T, e *env) {
	ctx, s := e.ctx, e.s
	a1 := e.user("alice")
	a2 := e.device("alice")
	bob := e.user("bob")
	putKeys(t, e, a1, 2, 2)
	e.stored(msg(bob, a1, "hi 1"), msg(bob, a2, "hi 2"), msg(a1, bob, "from alice"))

	revoked, err := s.ReplaceIdentity(ctx, store.User{ID: "alice", Identity: []byte("new identity")})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(revoked)
	if !slices.Equal(revoked, []addr.DeviceID{1, 2}) {
		t.Fatalf("revoked %v, want [1 2]", revoked)
	}
	if u, _ := s.User(ctx, "alice"); string(u.Identity) != "new identity" {
		t.Fatalf("identity not replaced: %q", u.Identity)
	}
	if list, _ := s.Devices(ctx, "alice"); len(list) != 0 {
		t.Fatalf("devices survive ReplaceIdentity: %v", list)
	}
	for _, a := range []addr.Address{a1, a2} {
		if got := e.pending(a); len(got) != 0 {
			t.Fatalf("mailbox of %s survives: %d envelopes", a, len(got))
		}
		_, err := s.TakeBundle(ctx, a)
		wantErr(t, "TakeBundle(revoked)", err, store.ErrNotFound)
	}
	if got := e.pending(bob); len(got) != 1 {
		t.Fatalf("bob lost mail sent by a revoked device: %d envelopes", len(got))
	}
	if a3 := e.device("alice"); a3.Device != 3 {
		t.Fatalf("device after ReplaceIdentity got ID %d, want 3", a3.Device)
	}
	_, err = s.ReplaceIdentity(ctx, store.User{ID: "nobody", Identity: []byte("x")})
	wantErr(t, "ReplaceIdentity(unknown)", err, store.ErrNotFound)
	_, err = s.ReplaceIdentity(ctx, store.User{ID: "alice"})
	wantErr(t, "ReplaceIdentity(empty identity)", err, store.ErrInvalid)
}

func testTokens(t *testing.T, e *env) {
	ctx, s := e.ctx, e.s
	h1, h2 := sha256.Sum256([]byte("token 1")), sha256.Sum256([]byte("token 2"))
	exp := Epoch.Add(time.Hour)
	if err := s.UseToken(ctx, h1, exp); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "UseToken twice", s.UseToken(ctx, h1, exp), store.ErrTokenUsed)
	if err := s.UseToken(ctx, h2, Epoch.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	// Expire before the tokens' expiry keeps them; after it forgets h1 only.
	if _, err := s.Expire(ctx, exp.Add(-time.Second), store.MaxBatch); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "UseToken before expiry", s.UseToken(ctx, h1, exp), store.ErrTokenUsed)
	if _, err := s.Expire(ctx, exp, store.MaxBatch); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "UseToken(h2) after h1 expired", s.UseToken(ctx, h2, exp), store.ErrTokenUsed)
	if err := s.UseToken(ctx, h1, exp.Add(time.Hour)); err != nil {
		t.Fatalf("UseToken after the hash was forgotten: %v", err)
	}
	wantErr(t, "UseToken(bad expiry)", s.UseToken(ctx, sha256.Sum256(nil), time.Time{}), store.ErrInvalid)
}

func testRevoke(t *testing.T, e *env) {
	ctx, s := e.ctx, e.s
	alice, bob := e.user("alice"), e.user("bob")
	putKeys(t, e, bob, 3, 3)
	e.stored(msg(alice, bob, "one"), msg(alice, bob, "two"), msg(bob, alice, "reply"))
	if err := s.RevokeDevice(ctx, bob); err != nil {
		t.Fatal(err)
	}
	if got := e.pending(bob); len(got) != 0 {
		t.Fatalf("revoked mailbox still has %d envelopes", len(got))
	}
	_, err := s.MailboxLen(ctx, bob)
	wantErr(t, "MailboxLen(revoked)", err, store.ErrNotFound)
	_, err = s.PreKeyCounts(ctx, bob)
	wantErr(t, "PreKeyCounts(revoked)", err, store.ErrNotFound)
	_, err = s.TakeBundle(ctx, bob)
	wantErr(t, "TakeBundle(revoked)", err, store.ErrNotFound)
	wantErr(t, "PutPreKeys(revoked)", s.PutPreKeys(ctx, bob, upload(1, 1, 1)), store.ErrNotFound)
	res := e.submit(msg(alice, bob, "late"))
	wantErr(t, "Submit to revoked", res[0].Err, store.ErrNotFound)
	if got := e.pending(alice); len(got) != 1 || !strings.HasPrefix(string(got[0].Payload), "reply") {
		t.Fatalf("mail from the revoked device was lost: %d envelopes", len(got))
	}
	wantErr(t, "RevokeDevice(invalid)", s.RevokeDevice(ctx, addr.Address{User: "bob"}), store.ErrInvalid)
}
