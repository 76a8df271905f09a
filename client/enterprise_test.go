package client_test

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"parley.dev/client"
	"parley.dev/internal/audit"
	"parley.dev/server"
	"parley.dev/token"
)

// TestEnterpriseMode is the enterprise deployment end to end: registration
// only by tokens a host backend mints (token.Mint, with the user name in a
// variable), and a signed tenant policy requiring 8-digit PINs and a
// one-day disappearing timer. A 6-digit PIN is refused; messages
// disappear from both devices a day after they were sent; the admin's
// revocation cuts a live device; the audit log verifies, and fails once
// one byte of it is edited in the database.
func TestEnterpriseMode(t *testing.T) {
	ctx := context.Background()
	tokenPub, tokenKey, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	tn := newTenant(t)
	r := startRelay(t, func(s *server.Server) {
		s.Registration, s.TokenKey = server.RegisterToken, tokenPub
	})
	p := openPolicy(1)
	p.MinPINDigits, p.DefaultTimer, p.MaxTimer = 8, 24*time.Hour, 24*time.Hour
	r.PublishPolicy(t, tn.priv, p)

	clock := &testClock{now: time.Now()}
	staff := func(user string) *client.Client {
		c := &client.Client{Home: filepath.Join(t.TempDir(), user), Server: r.URL, CAFile: r.CAFile, PolicyKey: tn.pub}
		client.SetOneTimePreKeys(c, testOneTimePreKeys)
		client.SetClock(c, clock.Now)
		var weak *client.WeakPINError
		if err := c.Create(ctx, []byte("482916")); !errors.As(err, &weak) || weak.Rule != client.RuleTooShort {
			t.Fatalf("%s's 6-digit PIN: %v, want refused as too short", user, err)
		}
		if err := c.Create(ctx, []byte("48291637")); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := c.Register(ctx, user, client.RegisterOptions{}); err == nil {
			t.Fatalf("%s registered without a token", user)
		}
		tok, err := token.Mint(tokenKey, user, time.Now().Add(time.Hour)) // the host backend
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Register(ctx, user, client.RegisterOptions{Token: tok}); err != nil {
			t.Fatalf("Register(%s) with a token: %v", user, err)
		}
		return c
	}
	alice, bob := staff("alice"), staff("bob")
	send(t, alice, "bob", "first")
	wantTexts(t, "bob's messages", texts(syncNow(t, bob), client.EventMessage), "first")
	enterpriseDisappearing(t, clock, alice, bob)

	enterpriseRevocation(t, r.Server, bob)
	enterpriseAudit(t, r.Server, r.Dir, func() { r.Stop(t) })
}

// enterpriseDisappearing: under the policy's one-day timer, nobody set,
// a message is in both histories for a day, then in neither; a longer
// timer is refused.
func enterpriseDisappearing(t *testing.T, clock *testClock, alice, bob *client.Client) {
	t.Helper()
	wantRule(t, "a two-day timer", alice.SetTimer(context.Background(), "bob", 48*time.Hour), client.RuleTimer)
	clock.Advance(24*time.Hour - time.Second)
	wantTexts(t, "alice's history before a day", historyTexts(t, alice, "bob"), "first")
	wantTexts(t, "bob's history before a day", historyTexts(t, bob, "alice"), "first")
	clock.Advance(2 * time.Second)
	wantTexts(t, "alice's history after a day", historyTexts(t, alice, "bob"))
	wantTexts(t, "bob's history after a day", historyTexts(t, bob, "alice"))
}

// enterpriseRevocation: the admin revokes bob's device while it listens;
// its Listen ends with ErrRevoked, and it cannot sync again.
func enterpriseRevocation(t *testing.T, srv *server.Server, bob *client.Client) {
	t.Helper()
	ctx := context.Background()
	events := make(chan client.Event, 100)
	done := make(chan error, 1)
	go func() { done <- bob.Listen(ctx, func(e client.Event) { events <- e }) }()
	next(t, events, client.EventSynced)
	adm, err := srv.Admin()
	if err != nil {
		t.Fatal(err)
	}
	if err := adm.RevokeDevice(ctx, "bob", 1); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, client.ErrRevoked) {
			t.Fatalf("bob's Listen after the revocation: %v, want ErrRevoked", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("bob's live connection outlived the revocation")
	}
	if _, err := bob.Sync(ctx); !errors.Is(err, client.ErrRevoked) {
		t.Fatalf("bob's Sync after the revocation: %v", err)
	}
}

// enterpriseAudit: the log holds the registrations, token uses and the
// revocation, verifies, and fails after a one-byte edit of the database.
func enterpriseAudit(t *testing.T, srv *server.Server, dir string, stop func()) {
	t.Helper()
	ctx := context.Background()
	adm, err := srv.Admin()
	if err != nil {
		t.Fatal(err)
	}
	log, err := adm.AuditLog(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[audit.Kind]int{}
	for _, e := range log {
		kinds[e.Kind]++
	}
	if kinds[audit.Register] != 2 || kinds[audit.TokenUse] != 2 || kinds[audit.DeviceRevoke] != 1 || kinds[audit.PolicyPublish] != 1 {
		t.Fatalf("audit log kinds %v", kinds)
	}
	if n, err := adm.VerifyAudit(ctx); err != nil || n != int64(len(log)) {
		t.Fatalf("verify: %d, %v", n, err)
	}
	stop()
	db, err := sql.Open("sqlite3", filepath.Join(dir, "parley.db"))
	if err != nil {
		t.Fatal(err)
	}
	// one byte: the revoked device "bob/1" becomes "bob/2"
	res, err := db.Exec(`UPDATE audit_log SET subject = 'bob/2' WHERE kind = ? AND subject = 'bob/1'`, string(audit.DeviceRevoke))
	if n, _ := res.RowsAffected(); err != nil || n != 1 {
		t.Fatalf("edit: %v (%d rows)", err, n)
	}
	db.Close()
	off := &server.Server{DataDir: dir}
	if _, err := off.VerifyAudit(ctx); !errors.Is(err, audit.ErrBroken) {
		t.Fatalf("verify after a one-byte edit: %v, want audit.ErrBroken", err)
	}
}
