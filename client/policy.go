package client

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"

	"parley.dev/client/internal/relay"
	"parley.dev/internal/policy"
	"parley.dev/internal/unlock"
	"parley.dev/internal/vault"
	"parley.dev/internal/wire"
)

// The tenant policy (docs/protocol.md, "Tenant policy"): an enterprise's
// rules, signed by its policy key, which the app embeds (PolicyKey) and
// the relay never holds. The relay serves the newest; this device keeps
// the newest it verified in its vault and never goes back to an older one.
// Every rule is enforced here, in the SDK, whatever the app's UI does.

// Policy is the tenant policy in force (see Client.PolicyKey and
// Client.Policy). Screenshots and backups are flags for the app to honour
// (the SDK cannot take a screenshot or make an OS backup); the SDK
// enforces every other rule.
type Policy = policy.Policy

// keyPolicy is the vault record (namespace account) holding the newest
// signed policy document this device verified.
const keyPolicy = "policy"

// Policy errors.
var (
	// ErrPolicyForged: the relay served a tenant policy that does not
	// verify under PolicyKey (forged, altered, or another tenant's). The
	// policy in force stays; report it to the tenant's administrator.
	ErrPolicyForged = errors.New("client: the relay served a tenant policy that does not verify")
	// ErrPolicyRollback: the relay served an older tenant policy than
	// this device holds (or another document with the same version). The
	// policy in force stays.
	ErrPolicyRollback = errors.New("client: the relay served an older tenant policy than this device holds")
	// ErrPolicy: the tenant policy forbids this. The error is a
	// *PolicyError naming the rule.
	ErrPolicy = errors.New("client: not allowed by the tenant policy")
)

// Rules a PolicyError names.
const (
	RuleAttachments     = "attachments"      // attachments are not allowed, or this one is too large
	RuleLinking         = "linking"          // linking devices is not allowed
	RuleMaxDevices      = "max-devices"      // the user has as many devices as the policy allows
	RuleRequiredFactors = "required-factors" // the vault lacks a factor the policy requires (SetFactors)
	RulePIN             = "pin"              // the PIN no longer passes the policy (ChangePIN)
	RuleTimer           = "timer"            // the disappearing timer is above the policy's maximum
)

// PolicyError says which rule of the tenant policy refused an operation.
// It matches ErrPolicy.
type PolicyError struct {
	Rule   string
	Detail string
}

func (e *PolicyError) Error() string {
	return "client: not allowed by the tenant policy (" + e.Rule + "): " + e.Detail
}

func (e *PolicyError) Unwrap() error { return ErrPolicy }

func policyErr(rule, format string, args ...any) error {
	return &PolicyError{Rule: rule, Detail: fmt.Sprintf(format, args...)}
}

// Policy returns the tenant policy in force on this device, or nil when
// there is none (no PolicyKey, or the relay never served one).
func (c *Client) Policy() (*Policy, error) {
	if _, err := c.vault(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pol == nil {
		return nil, nil
	}
	p := *c.pol
	p.RequiredFactors = append([]string(nil), c.pol.RequiredFactors...)
	return &p, nil
}

// policyNow returns the policy in force (nil: none).
func (c *Client) policyNow() *policy.Policy {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pol
}

// RefreshPolicy fetches the relay's policy, verifies it and, if it is newer
// than the one held, makes it the policy in force and keeps it in the
// vault. Sync and Listen call it; an app may call it at any time. A forged
// policy is ErrPolicyForged, an older one ErrPolicyRollback; either way the
// policy in force stays. Without PolicyKey it does nothing.
func (c *Client) RefreshPolicy(ctx context.Context) (*Policy, error) {
	v, err := c.vault()
	if err != nil || len(c.PolicyKey) == 0 {
		return nil, err
	}
	rc, err := c.relayClient()
	if err != nil {
		return nil, err
	}
	doc, err := rc.Policy(ctx)
	if errors.Is(err, wire.CodeNoPolicy) {
		return c.Policy()
	}
	if err != nil {
		return nil, relayErr(err)
	}
	if err := c.acceptPolicy(v, doc); err != nil {
		c.log.Warn("tenant policy refused", "err", err)
		return nil, err
	}
	return c.Policy()
}

// verifyPolicy checks doc under PolicyKey against held (nil: none).
func (c *Client) verifyPolicy(doc []byte, held *policy.Policy, heldDoc []byte) (*policy.Policy, error) {
	if len(c.PolicyKey) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: PolicyKey is not an Ed25519 public key", ErrBadConfig)
	}
	p, err := policy.Verify(doc, c.PolicyKey)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPolicyForged, err)
	}
	switch {
	case held == nil || p.Version > held.Version:
		return p, nil
	case p.Version == held.Version && string(doc) == string(heldDoc):
		return held, nil
	}
	return nil, fmt.Errorf("%w: version %d, this device holds %d", ErrPolicyRollback, p.Version, held.Version)
}

// acceptPolicy verifies doc and stores it if it is newer than the vault's.
func (c *Client) acceptPolicy(v *vault.Vault, doc []byte) error {
	var accepted *policy.Policy
	err := v.Update(func(tx *vault.Tx) error {
		held, heldDoc, err := c.heldPolicy(tx)
		if err != nil {
			return err
		}
		p, err := c.verifyPolicy(doc, held, heldDoc)
		if err != nil || p == held {
			accepted = held
			return err
		}
		accepted = p
		return tx.Put(nsAccount, keyPolicy, doc)
	})
	if err != nil {
		if errors.Is(err, ErrPolicyForged) || errors.Is(err, ErrPolicyRollback) || errors.Is(err, ErrBadConfig) {
			return err
		}
		return vaultErr(err)
	}
	c.mu.Lock()
	c.pol = accepted
	c.mu.Unlock()
	return nil
}

// heldPolicy reads the vault's policy (nil if none). It is re-verified: a
// vault holds only documents signed by PolicyKey.
func (c *Client) heldPolicy(tx *vault.Tx) (*policy.Policy, []byte, error) {
	doc, err := tx.Get(nsAccount, keyPolicy)
	if notFound(err) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	if len(c.PolicyKey) == 0 {
		return nil, nil, fmt.Errorf("%w: the vault holds a tenant policy but PolicyKey is not set", ErrBadConfig)
	}
	p, err := policy.Verify(doc, c.PolicyKey)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: the vault's tenant policy does not verify under PolicyKey: %v", ErrBadConfig, err)
	}
	return p, doc, nil
}

// loadPolicy sets the policy in force from the vault at unlock.
func (c *Client) loadPolicy(v *vault.Vault) error {
	var p *policy.Policy
	err := v.Update(func(tx *vault.Tx) (err error) {
		p, _, err = c.heldPolicy(tx)
		return err
	})
	if err != nil {
		return err
	}
	c.pol = p
	return nil
}

// prefetchPolicy fetches and verifies the relay's policy before a vault
// exists (Create), so that the first PIN is checked against it. No
// policy at the relay is none.
func (c *Client) prefetchPolicy(ctx context.Context) (*policy.Policy, []byte, error) {
	if len(c.PolicyKey) == 0 {
		return nil, nil, nil
	}
	cfg, err := c.relayConfig(profileRec{})
	if err != nil {
		return nil, nil, err
	}
	cfg.Logger = c.Logger
	rc, err := relay.New(cfg)
	if err != nil {
		return nil, nil, relayErr(err)
	}
	defer rc.CloseIdle()
	doc, err := rc.Policy(ctx)
	if errors.Is(err, wire.CodeNoPolicy) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, relayErr(err)
	}
	p, err := c.verifyPolicy(doc, nil, nil)
	return p, doc, err
}

// pinPolicy is PINPolicy raised to the tenant policy's minimums.
func (c *Client) pinPolicy(p *policy.Policy) PINPolicy {
	pp := c.PINPolicy
	if p != nil {
		pp.MinDigits = max(pp.MinDigits, p.MinPINDigits)
		pp.MinPassphrase = max(pp.MinPassphrase, p.MinPassphrase)
	}
	return pp
}

// checkOutgoing refuses to send while the device breaks the policy: its
// PIN fails the policy's rules (seen at the last Unlock) or its vault
// lacks a required factor.
func (c *Client) checkOutgoing() error {
	c.mu.Lock()
	p, weak := c.pol, c.weakPIN
	c.mu.Unlock()
	if p == nil {
		return nil
	}
	if weak {
		return policyErr(RulePIN, "the PIN does not pass the tenant policy; change it (ChangePIN)")
	}
	if len(p.RequiredFactors) == 0 {
		return nil
	}
	names, err := vault.FactorNames(c.Home)
	if err != nil {
		return vaultErr(err)
	}
	for _, want := range p.RequiredFactors {
		if !hasFactor(names, want) {
			return policyErr(RuleRequiredFactors, "the vault is not locked by the factor %q (SetFactors)", want)
		}
	}
	return nil
}

// hasFactor reports whether names has want; "relay" is the relay's PIN
// factor, whatever its credential.
func hasFactor(names []string, want string) bool {
	for _, n := range names {
		if n == want || want == "relay" && strings.HasPrefix(n, unlock.FactorPrefix) {
			return true
		}
	}
	return false
}

// checkAttachment applies the policy's attachment rules to a file of size
// bytes (-1: not known yet).
func (c *Client) checkAttachment(size int64) error {
	p := c.policyNow()
	switch {
	case p == nil:
		return nil
	case !p.Attachments:
		return policyErr(RuleAttachments, "attachments are not allowed")
	case p.MaxAttachment > 0 && size > p.MaxAttachment:
		return policyErr(RuleAttachments, "a file of %d bytes is above the limit of %d", size, p.MaxAttachment)
	}
	return nil
}

// checkLinking applies the policy's device rules before a link: linking
// allowed, and fewer than MaxDevices devices (have).
func (c *Client) checkLinking(have int) error {
	p := c.policyNow()
	switch {
	case p == nil:
		return nil
	case !p.Linking:
		return policyErr(RuleLinking, "linking another device is not allowed")
	case p.MaxDevices > 0 && have >= p.MaxDevices:
		return policyErr(RuleMaxDevices, "%d devices, the most allowed", have)
	}
	return nil
}
