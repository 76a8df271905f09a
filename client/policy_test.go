package client_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"parley.dev/client"
	"parley.dev/internal/policy"
)

// tenant is a policy key and the relay its policies are published on.
type tenant struct {
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
}

func newTenant(t *testing.T) *tenant {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &tenant{pub, priv}
}

// openPolicy is a policy that allows everything, at version v.
func openPolicy(v uint64) *policy.Policy {
	return &policy.Policy{Version: v, Issued: time.Unix(1_800_000_000, 0), Attachments: true, Linking: true}
}

func (tn *tenant) app(c *client.Client) { c.PolicyKey = tn.pub }

func policyVersion(t *testing.T, c *client.Client) uint64 {
	t.Helper()
	p, err := c.Policy()
	if err != nil || p == nil {
		t.Fatalf("Policy = %v, %v", p, err)
	}
	return p.Version
}

func hasError(evs []client.Event, target error) bool {
	for _, e := range evs {
		if e.Kind == client.EventError && errors.Is(e.Err, target) {
			return true
		}
	}
	return false
}

// TestPolicyForgedOrStaleDetected: a relay serving a policy under another
// key, an older version, or another document with the held version is
// detected; the device keeps the policy it holds, across restarts.
func TestPolicyForgedOrStaleDetected(t *testing.T) {
	ctx := context.Background()
	tn := newTenant(t)
	r := startRelay(t)
	r.PublishPolicy(t, tn.priv, openPolicy(2))
	alice := register(t, r, "alice", tn.app)
	if v := policyVersion(t, alice); v != 2 {
		t.Fatalf("version %d after Create, want 2", v)
	}

	_, forger, _ := ed25519.GenerateKey(nil)
	forged := openPolicy(3)
	forged.MinPINDigits = 6
	r.PublishPolicy(t, forger, forged) // the relay cannot tell
	if evs := syncNow(t, alice); !hasError(evs, client.ErrPolicyForged) {
		t.Fatalf("Sync events %v: no ErrPolicyForged", evs)
	}
	if _, err := alice.RefreshPolicy(ctx); !errors.Is(err, client.ErrPolicyForged) {
		t.Fatalf("RefreshPolicy: %v", err)
	}
	if v := policyVersion(t, alice); v != 2 {
		t.Fatalf("version %d after a forged policy, want 2", v)
	}

	// A relay that serves an old policy, or another one with version 2.
	for _, stale := range []*policy.Policy{openPolicy(1), func() *policy.Policy { p := openPolicy(2); p.Linking = false; return p }()} {
		r2 := startRelay(t)
		r2.PublishPolicy(t, tn.priv, stale)
		alice.Close()
		alice = &client.Client{Home: alice.Home, Server: r2.URL, CAFile: r2.CAFile, PolicyKey: tn.pub}
		if err := alice.Unlock(ctx, testPIN); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { alice.Close() })
		if _, err := alice.RefreshPolicy(ctx); !errors.Is(err, client.ErrPolicyRollback) {
			t.Fatalf("stale version %d: %v", stale.Version, err)
		}
		if p, _ := alice.Policy(); p == nil || p.Version != 2 || !p.Linking {
			t.Fatalf("policy after a stale one: %+v", p)
		}
	}

	// A newer policy is taken, and kept in the vault.
	r.PublishPolicy(t, tn.priv, openPolicy(5))
	alice.Close()
	alice = &client.Client{Home: alice.Home, Server: r.URL, CAFile: r.CAFile, PolicyKey: tn.pub}
	if err := alice.Unlock(ctx, testPIN); err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	if v := policyVersion(t, alice); v != 2 {
		t.Fatalf("version %d before refreshing, want the vault's 2", v)
	}
	syncNow(t, alice)
	if v := policyVersion(t, alice); v != 5 {
		t.Fatalf("version %d after Sync, want 5", v)
	}
	// The vault holds a policy: opening it without the key is refused.
	alice.Close()
	if err := (&client.Client{Home: alice.Home}).Unlock(ctx, testPIN); !errors.Is(err, client.ErrBadConfig) {
		t.Fatalf("Unlock without PolicyKey: %v", err)
	}
}

func wantRule(t *testing.T, what string, err error, rule string) {
	t.Helper()
	var pe *client.PolicyError
	if !errors.As(err, &pe) || pe.Rule != rule || !errors.Is(err, client.ErrPolicy) {
		t.Fatalf("%s: %v, want a PolicyError for %q", what, err, rule)
	}
}

// TestPolicyRulesEnforcedBySDK: each rule of the policy is enforced by the
// SDK's calls, not left to the app.
func TestPolicyRulesEnforcedBySDK(t *testing.T) {
	ctx := context.Background()
	tn := newTenant(t)
	r := startRelay(t)
	p := openPolicy(1)
	p.MinPINDigits, p.Attachments, p.Linking = 8, false, false
	p.RequiredFactors = []string{"relay"}
	r.PublishPolicy(t, tn.priv, p)

	// PIN: 6 digits are refused at Create, 8 pass.
	c := &client.Client{Home: t.TempDir() + "/a", Server: r.URL, CAFile: r.CAFile, PolicyKey: tn.pub}
	var weak *client.WeakPINError
	if err := c.Create(ctx, []byte("482916")); !errors.As(err, &weak) || weak.Rule != client.RuleTooShort {
		t.Fatalf("6-digit PIN: %v", err)
	}
	pin := []byte("48291637")
	if err := c.Create(ctx, pin); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Register(ctx, "alice", client.RegisterOptions{}); err != nil {
		t.Fatal(err)
	}
	register(t, r, "bob")

	// Required factor: nothing goes out until the relay factor locks the vault.
	_, err := c.Send(ctx, "bob", "hi")
	wantRule(t, "Send without the relay factor", err, client.RuleRequiredFactors)
	if err := c.SetFactors(ctx, pin, client.FactorOptions{Relay: true}); err != nil {
		t.Fatal(err)
	}
	send(t, c, "bob", "hi")

	// Attachments and linking.
	_, err = c.SendFileFrom(ctx, "bob", bytes.NewReader([]byte("file")), client.FileOptions{Name: "a.txt"})
	wantRule(t, "SendFileFrom", err, client.RuleAttachments)
	_, err = c.ApproveLink(ctx, "parley-link-request-1:AQ"+string(bytes.Repeat([]byte("A"), 43)))
	wantRule(t, "ApproveLink", err, client.RuleLinking)
	other := &client.Client{Home: t.TempDir() + "/b", Server: r.URL, CAFile: r.CAFile, PolicyKey: tn.pub}
	if err := other.Create(ctx, pin); err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	_, err = other.LinkRequest(ctx)
	wantRule(t, "LinkRequest", err, client.RuleLinking)

	// A stricter policy: attachments up to 10 bytes, one device, 10-digit PINs.
	p2 := openPolicy(2)
	p2.MinPINDigits, p2.MaxAttachment, p2.MaxDevices = 10, 10, 1
	r.PublishPolicy(t, tn.priv, p2)
	syncNow(t, c)
	_, err = c.SendFileFrom(ctx, "bob", bytes.NewReader(make([]byte, 11)), client.FileOptions{Name: "big.bin"})
	wantRule(t, "an 11-byte file", err, client.RuleAttachments)
	if _, err := other.RefreshPolicy(ctx); err != nil {
		t.Fatal(err)
	}
	req, err := other.LinkRequest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ApproveLink(ctx, req)
	wantRule(t, "ApproveLink beyond MaxDevices", err, client.RuleMaxDevices)
	// The 8-digit PIN fails the new policy: at the next Unlock, sending
	// stops until the PIN is changed, by every way of sending.
	gid, err := c.CreateGroup(ctx, "team", []string{"bob"})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := c.Unlock(ctx, pin); err != nil {
		t.Fatal(err)
	}
	_, err = c.Send(ctx, "bob", "still?")
	wantRule(t, "Send with a PIN the policy no longer allows", err, client.RulePIN)
	_, err = c.SendMany(ctx, "bob", []string{"still?", "really?"})
	wantRule(t, "SendMany with a PIN the policy no longer allows", err, client.RulePIN)
	_, err = c.SendGroup(ctx, gid, "still, team?")
	wantRule(t, "SendGroup with a PIN the policy no longer allows", err, client.RulePIN)
	if err := c.ChangePIN(ctx, pin, []byte("482916375")); !errors.As(err, &weak) || weak.Rule != client.RuleTooShort {
		t.Fatalf("ChangePIN to 9 digits: %v", err)
	}
	if err := c.ChangePIN(ctx, pin, []byte("4829163751")); err != nil {
		t.Fatal(err)
	}
	send(t, c, "bob", "yes")
}
