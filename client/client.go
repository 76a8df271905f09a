package client

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"parley.dev/client/internal/relay"
	"parley.dev/internal/addr"
	"parley.dev/internal/keys"
	"parley.dev/internal/unlock"
	"parley.dev/internal/vault"
)

// Client is one device of one user. Set the exported fields, then call
// Create (first run) or Unlock (every later run). Fields must not change
// after that. A Client is safe for concurrent use once unlocked; its zero
// value with Home set is ready for Create or Unlock.
//
// Locks, in the order they are taken: recvMu (one Sync or Listen),
// transfers (one upload or download per attachment; Sync and Listen only
// try them), flushMu (one outbox flush), preKeyMu (one prekey upload),
// fs.rekeyMu (one SetFactors or ChangePIN), mu (the fields below; never
// held across I/O).
type Client struct {
	// Home is the directory holding the device's vault (created by Create;
	// made 0700 and its files 0600 whatever the umask, and tightened again
	// by Unlock if someone widened them). Required.
	Home string
	// Server is the relay's base URL, "https://host[:port]", or the
	// nodes of one deployment, comma-separated, in order of preference:
	// requests go to the first node that can be reached, and when a node
	// cannot be, to the next (a request that may have reached a node is
	// not repeated elsewhere; Listen reconnects to the next node with its
	// backoff). One URL of a load balancer in front of the nodes works as
	// well. It is saved at Register; later runs may leave it empty, or set
	// it to override.
	Server string
	// CAFile names a PEM file of CA certificates to trust instead of the
	// system's (a development relay's CA). Saved at Register like Server.
	CAFile string
	// Pins are optional SPKI pins of the relay, "sha256/<base64>": none,
	// or at least two (the key in use and a backup). Saved at Register.
	Pins []string
	// Factors are extra secrets the vault key needs besides the PIN (see
	// Factor, KeystoreFactor). Unlock needs the same factors, by name, as
	// Create or the last SetFactors (which updates this field). The
	// relay's PIN factor is not among them: the SDK manages it
	// (SetFactors, FactorOptions.Relay).
	Factors []Factor
	// PINPolicy is what a new PIN must pass at Create and ChangePIN; the
	// zero value is the default (see PINPolicy).
	PINPolicy PINPolicy
	// WipeAfter destroys the vault after this many consecutive wrong PINs
	// at Unlock; 0 never wipes.
	WipeAfter int
	// Logger receives operational events; nil is silent. It never
	// receives message text, keys, PINs, tokens or link codes.
	Logger *slog.Logger
	// AutoDownload: received attachments of at most this many bytes are
	// downloaded into the vault by themselves, by Sync before it returns
	// and by Listen in the background (EventDownloaded says when one is
	// there); 0 downloads none. Others wait for Download or
	// SaveAttachment.
	AutoDownload int64
	// PolicyKey is the tenant's policy public key (Ed25519, from parleyd
	// policy-key), embedded in an enterprise app; nil for none (consumer
	// apps). With it the device fetches the relay's signed policy at
	// Create and every Sync and Listen, refuses a forged or older one, and
	// enforces its rules (policy.go, Policy).
	PolicyKey ed25519.PublicKey

	recvMu   sync.Mutex
	flushMu  sync.Mutex
	preKeyMu sync.Mutex

	mu   sync.Mutex
	v    *vault.Vault
	log  *slog.Logger
	acct *account      // nil until Register has begun
	rc   *relay.Client // built on first use
	live *relay.Conn   // Sync's or Listen's connection
	emit func(Event)   // where events go while Sync or Listen runs

	now     func() time.Time // the clock; tests replace it
	lastOrd atomic.Int64     // the last history order stamp (order)
	// swept counts the sweeps that deleted 1:1 messages (sweepTx), so a
	// flush knows whether a record it stored may be gone (flusher.sent).
	swept   atomic.Uint64
	backoff time.Duration // Listen's first reconnect wait; tests shorten it
	hooks   *testHooks    // nil outside this package's tests
	oneTime int           // one-time prekeys to keep per kind; 0 means oneTimeTarget
	// backlog holds events emitted while neither Sync nor Listen ran (a
	// Send that found an identity change); the next one reports them.
	backlog []Event
	fs      factorState // the vault's factors (factors.go)
	pol     *Policy     // the tenant policy in force; nil: none (policy.go)
	weakPIN bool        // the PIN failed the policy at the last Unlock
	// retained is when the sweep last applied the retention rule;
	// nextDue the earliest deadline in the expiry index (Unix ms; 0: not
	// read yet, so the next sweep reads it). See sweep.go.
	retained time.Time
	nextDue  int64
	dueGen   uint64 // deadlines indexed, so a sweep knows nextDue moved

	groups    groupCache    // group replicas, see grouprecords.go
	transfers transferLocks // one transfer per attachment (transfers.go)
	// transferWake wakes Listen's transfer worker; nil when none runs.
	transferWake chan struct{}
}

// Factor is an extra secret the vault's key is derived from, besides the
// PIN: typically a platform keystore (Android Keystore, iOS Secure
// Enclave) that computes an HMAC under a key it never reveals. Secret gets
// 32 bytes derived from the PIN and must return the same 16 to 1,024
// bytes for the same input; Name (1 to 64 printable ASCII bytes) tells
// factors apart. See internal/vault's Factor for the construction.
type Factor interface {
	Name() string
	Secret(ctx context.Context, input []byte) ([]byte, error)
}

// account is a device's registration: its keys and address. Immutable
// once built; replaced whole under Client.mu.
type account struct {
	prof     profileRec
	identity *keys.Identity
	device   *keys.DeviceKey
}

func (a *account) self() addr.Address { return a.prof.address() }

func (a *account) registered() bool { return a.prof.Device != 0 }

func (a *account) auth() relay.Auth { return relay.Auth{Address: a.self(), Key: a.device} }

func (c *Client) vaultOptions() vault.Options {
	fs := make([]vault.Factor, len(c.Factors))
	for i, f := range c.Factors {
		fs[i] = f
	}
	return vault.Options{Factors: fs, WipeAfter: c.WipeAfter, Logger: c.Logger, Now: c.now, KDF: c.fs.kdf}
}

// Create makes a new vault in Home locked by pin (and Factors), and leaves
// the Client unlocked. pin must pass PINPolicy (else a *WeakPINError). It
// fails with ErrExists if Home holds one. It costs one Argon2id run
// (about 150 ms on a phone-class CPU). To have the relay limit PIN
// guesses, call SetFactors with FactorOptions.Relay after Register.
func (c *Client) Create(ctx context.Context, pin []byte) error {
	if c.Home == "" {
		return fmt.Errorf("%w: Home is not set", ErrInvalid)
	}
	pol, doc, err := c.prefetchPolicy(ctx)
	if err != nil {
		return err
	}
	if err := c.pinPolicy(pol).Check(pin); err != nil {
		return err
	}
	if err := checkAppFactors(c.Factors); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.v != nil {
		return fmt.Errorf("%w: this Client is already unlocked", ErrExists)
	}
	v, err := vault.Create(ctx, c.Home, pin, c.vaultOptions())
	if err != nil {
		return vaultErr(err)
	}
	if err := writeCredentials(c.Home, &unlock.File{}); err != nil { // left by a wiped vault
		v.Close()
		return err
	}
	if doc != nil {
		if err := v.Put(nsAccount, keyPolicy, doc); err != nil {
			v.Close()
			return vaultErr(err)
		}
	}
	c.open(v)
	c.pol = pol
	return nil
}

// Unlock opens the vault in Home with pin (and Factors). A wrong PIN
// returns a *PINError (ErrWrongPIN) and changes nothing but the attempt
// counter; after five, each further attempt waits longer (ErrLocked), and
// with WipeAfter the vault is destroyed (ErrWiped).
//
// A vault locked by the relay's PIN factor needs the relay: each attempt
// is a guess the relay counts, a right PIN resets its count, and after too
// many wrong ones in a row the relay destroys the vault's key
// (ErrRelayLocked; PINError.Remaining counts down to it). With the relay
// unreachable Unlock fails with ErrRelayNeeded and counts nothing.
func (c *Client) Unlock(ctx context.Context, pin []byte) error {
	if c.Home == "" {
		return fmt.Errorf("%w: Home is not set", ErrInvalid)
	}
	if _, err := os.Stat(c.Home); err != nil || !vault.Exists(c.Home) {
		return ErrNoVault
	}
	rf, opened, err := c.unlock(ctx, pin)
	switch {
	case opened:
		c.afterUnlock(ctx, pin, rf)
		c.sweepQuietly(ctx) // messages whose timer ran out while the app was closed
	case rf != nil && !errors.Is(err, ErrWrongPIN):
		// The PIN was right but the vault did not open (in use by another
		// process, say): undo the relay's count.
		rf.confirm(ctx)
	}
	return err
}

// unlock opens the vault, unless it is open; opened reports whether it did.
func (c *Client) unlock(ctx context.Context, pin []byte) (rf *relayFactor, opened bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.v != nil {
		return nil, false, nil
	}
	fs, rf, err := c.openFactors(c.Factors)
	if err != nil {
		return nil, false, err
	}
	opt := c.vaultOptions()
	opt.Factors = fs
	v, err := vault.Open(ctx, c.Home, pin, opt)
	if err != nil {
		return rf, false, unlockErr(err, rf)
	}
	acct, err := loadAccount(v)
	if err == nil {
		err = c.loadPolicy(v)
	}
	if err != nil {
		v.Close()
		return rf, false, err
	}
	c.open(v)
	c.weakPIN = c.pol != nil && c.pinPolicy(c.pol).Check(pin) != nil
	c.acct, c.fs.relay = acct, rf
	return rf, true, nil
}

func (c *Client) open(v *vault.Vault) {
	c.v = v
	c.log = c.Logger
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
}

// loadAccount reads the registration, if any.
func loadAccount(v *vault.Vault) (*account, error) {
	var a *account
	err := v.Update(func(tx *vault.Tx) error {
		var prof profileRec
		err := getJSON(tx, nsAccount, keyProfile, &prof)
		if notFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		a, err = readAccountKeys(tx, prof)
		return err
	})
	return a, vaultErr(err)
}

func readAccountKeys(tx *vault.Tx, prof profileRec) (*account, error) {
	idb, err := tx.Get(nsAccount, keyIdentity)
	if err != nil {
		return nil, err
	}
	devb, err := tx.Get(nsAccount, keyDevice)
	if err != nil {
		return nil, err
	}
	id, err := keys.ParseIdentitySecret(idb)
	if err != nil {
		return nil, err
	}
	dev, err := keys.ParseDeviceSecret(devb)
	if err != nil {
		return nil, err
	}
	return &account{prof: prof, identity: id, device: dev}, nil
}

// ChangePIN re-wraps the vault's key under newPIN, which must pass
// PINPolicy, with the same factors (a vault with the relay factor enrols
// a fresh credential; the relay must be reachable). oldPIN must be the
// current PIN; a wrong one counts as a failed attempt. Atomic like
// SetFactors.
func (c *Client) ChangePIN(ctx context.Context, oldPIN, newPIN []byte) error {
	if _, err := c.vault(); err != nil {
		return err
	}
	return c.changePIN(ctx, oldPIN, newPIN)
}

// Close locks the Client again: it closes the vault (zeroing the keys it
// can) and the relay connections. A running Sync or Listen fails.
func (c *Client) Close() error {
	c.mu.Lock()
	v, live, rc := c.v, c.live, c.rc
	c.v, c.acct, c.rc, c.fs.relay = nil, nil, nil, nil
	c.mu.Unlock()
	if live != nil {
		live.Close()
	}
	if rc != nil {
		rc.CloseIdle()
	}
	if v == nil {
		return nil
	}
	return vaultErr(v.Close())
}

// vault returns the open vault, or ErrNotOpen.
func (c *Client) vault() (*vault.Vault, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.v == nil {
		return nil, ErrNotOpen
	}
	return c.v, nil
}

// registered returns the open vault and the device's account, or
// ErrNotOpen or ErrNotRegistered.
func (c *Client) registered() (*vault.Vault, *account, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.v == nil:
		return nil, nil, ErrNotOpen
	case c.acct == nil || !c.acct.registered():
		return nil, nil, ErrNotRegistered
	}
	return c.v, c.acct, nil
}

// Address returns this device's address, or ErrNotRegistered.
func (c *Client) Address() (Address, error) {
	_, a, err := c.registered()
	if err != nil {
		return Address{}, err
	}
	return publicAddress(a.self()), nil
}

// relayAs returns this device's account and the relay client to act as
// it, or ErrNotRegistered.
func (c *Client) relayAs() (*account, *relay.Client, error) {
	_, a, err := c.registered()
	if err != nil {
		return nil, nil, err
	}
	rc, err := c.relayClient()
	return a, rc, err
}

// relayClient returns the client for the configured relay, building it on
// first use from the fields, or else from what Register saved.
func (c *Client) relayClient() (*relay.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.v == nil {
		return nil, ErrNotOpen
	}
	if c.rc != nil {
		return c.rc, nil
	}
	var saved profileRec
	if c.acct != nil {
		saved = c.acct.prof
	}
	cfg, err := c.relayConfig(saved)
	if err != nil {
		return nil, err
	}
	rc, err := relay.New(cfg)
	if err != nil {
		return nil, relayErr(err)
	}
	c.rc = rc
	return rc, nil
}

// relayConfig merges the fields over saved settings.
func (c *Client) relayConfig(saved profileRec) (relay.Config, error) {
	cfg := relay.Config{URL: saved.Server, Roots: saved.CA, Pins: saved.Pins, Logger: c.log}
	if c.Server != "" {
		cfg.URL = c.Server
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return cfg, fmt.Errorf("%w: CA file: %v", ErrBadConfig, err)
		}
		cfg.Roots = pem
	}
	if len(c.Pins) > 0 {
		cfg.Pins = c.Pins
	}
	if cfg.URL == "" {
		return cfg, ErrNoServer
	}
	return cfg, nil
}

// order returns a stamp that orders history records by when this device
// stored them, also within one millisecond: the clock in nanoseconds, but
// always above the last stamp handed out.
func (c *Client) order() int64 {
	for {
		last := c.lastOrd.Load()
		next := max(last+1, c.clock().UnixNano())
		if c.lastOrd.CompareAndSwap(last, next) {
			return next
		}
	}
}

// clock returns the current time.
func (c *Client) clock() time.Time {
	if c.now == nil {
		return time.Now()
	}
	return c.now()
}
