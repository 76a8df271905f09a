package mobile

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"strings"
	"sync"
	"time"

	"parley.dev/client"
)

// DefaultTimeoutMs is the deadline of a call given a timeout of 0 or less.
const DefaultTimeoutMs = 30_000

// Config says where a device keeps its vault and which relay it talks to.
// Build one with NewConfig, set the fields, and pass it to NewClient.
type Config struct {
	// Home is the directory of the device's encrypted vault: the app's
	// private files directory (Context.getFilesDir() on Android, the
	// Application Support directory on iOS). Required.
	Home string
	// Server is the relay's base URL, "https://host[:port]" (or several,
	// comma-separated: the nodes of one deployment, tried in order; see
	// the client package's Client.Server). Saved at
	// Register; later runs may leave it empty.
	Server string
	// CAFile names a PEM file of CAs to trust instead of the system's
	// (a development relay's CA). Saved at Register like Server.
	CAFile string
	// Pins are optional SPKI pins of the relay's certificate,
	// "sha256/<base64>", separated by spaces or commas: none, or at least
	// two (the key in use and a backup). Saved at Register like Server.
	Pins string
	// PolicyKey is the tenant's policy public key (32 bytes of Ed25519,
	// from parleyd policy-key), embedded in an enterprise app; null for
	// none. With it the device follows the relay's signed policy (Policy).
	PolicyKey []byte
	// WipeAfter destroys the vault after this many consecutive wrong
	// PINs; 0 never wipes.
	WipeAfter int32
	// AutoDownload: received files of at most this many bytes are
	// downloaded into the vault by themselves; 0 downloads none.
	AutoDownload int64
}

// NewConfig returns a Config for a vault in home.
func NewConfig(home string) *Config { return &Config{Home: home} }

// Client is one device of one user. It is safe for concurrent use: every
// method may be called from any thread. Methods that may reach the relay
// take a timeout in milliseconds (0 or less means DefaultTimeoutMs) and
// block the calling thread: call them off the UI thread.
type Client struct {
	cfg Config

	openMu sync.Mutex // one Create or Unlock at a time

	mu       sync.Mutex
	c        *client.Client // nil while locked
	factors  []client.Factor
	base     context.Context // canceled by Cancel
	cancel   context.CancelFunc
	listener Listener
	live     *liveConn // the running Start, if any
}

func isPinSeparator(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' }

// NewClient returns a locked Client for cfg's vault: call Create (first
// run) or Unlock (every later run) next.
func NewClient(cfg *Config) (*Client, error) {
	if cfg == nil || cfg.Home == "" {
		return nil, invalid("Config.Home is required")
	}
	base, cancel := context.WithCancel(context.Background())
	return &Client{cfg: *cfg, base: base, cancel: cancel}, nil
}

// Keystore is a secret the phone's secure hardware holds, implemented in
// Kotlin or Swift: Secret returns a function of input under a key that
// never leaves the hardware (HMAC-SHA256 in the Android Keystore, an ECDH
// with a Secure Enclave key on iOS). The same input must always give the
// same 16 to 1,024 bytes. It is called at Create, Unlock, ChangePIN and
// SetFactors, on the calling thread; it may block for biometrics. An
// error it returns reaches the caller as parley:keystore.
type Keystore interface {
	Secret(input []byte) ([]byte, error)
}

// keystore tags the app's errors so they get their own code.
type keystore struct{ ks Keystore }

func (k keystore) Secret(input []byte) ([]byte, error) {
	s, err := k.ks.Secret(input)
	if err != nil {
		return nil, errors.Join(errKeystore, err)
	}
	return s, nil
}

// SetKeystore makes the vault need ks besides the PIN, under name ("" is
// "keystore"): call it before Create to lock a new vault with it, and
// before every Unlock of a vault that has it. Passing nil removes it
// (for the next SetFactors).
func (m *Client) SetKeystore(name string, ks Keystore) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.factors = nil
	if ks != nil {
		m.factors = []client.Factor{client.KeystoreFactor(name, keystore{ks})}
	}
}

// newSDK returns a locked client.Client for the configuration.
func (m *Client) newSDK() *client.Client {
	return &client.Client{
		Home:         m.cfg.Home,
		Server:       m.cfg.Server,
		CAFile:       m.cfg.CAFile,
		WipeAfter:    int(m.cfg.WipeAfter),
		AutoDownload: m.cfg.AutoDownload,
		Factors:      m.factors,
		Pins:         strings.FieldsFunc(m.cfg.Pins, isPinSeparator),
		PolicyKey:    ed25519.PublicKey(bytes.Clone(m.cfg.PolicyKey)),
	}
}

// open runs Create or Unlock on a fresh client.Client and keeps it. The
// Argon2id run and the keystore callback happen outside m.mu, so other
// methods (IsUnlocked) do not wait for them; openMu makes opens one at a
// time.
func (m *Client) open(timeoutMs int64, f func(context.Context, *client.Client) error) error {
	m.openMu.Lock()
	defer m.openMu.Unlock()
	m.mu.Lock()
	if m.c != nil {
		m.mu.Unlock()
		return nil
	}
	c := m.newSDK()
	ctx, cancel := m.ctxLocked(timeoutMs)
	m.mu.Unlock()
	defer cancel()
	if err := f(ctx, c); err != nil {
		return wrapCtx(ctx, err)
	}
	m.mu.Lock()
	m.c = c
	m.mu.Unlock()
	return nil
}

// Create makes a new vault in Config.Home locked by pin (and the keystore,
// if set) and leaves the Client unlocked. pin must pass the PIN policy
// (parley:weak_pin): 6 digits or an 8-character passphrase, no repeats,
// runs or common PINs. Errors: parley:exists, parley:weak_pin.
func (m *Client) Create(pin []byte) error {
	return m.open(0, func(ctx context.Context, c *client.Client) error { return c.Create(ctx, pin) })
}

// Unlock opens the vault with pin (and the keystore, if set). A vault with
// the relay factor needs the relay, within timeoutMs. Errors:
// parley:wrong_pin (the message says how many attempts are left),
// parley:too_many_attempts, parley:wiped, parley:no_vault,
// parley:relay_needed, parley:relay_locked, parley:keystore,
// parley:factors (call SetKeystore first). Unlocking an unlocked Client
// does nothing.
func (m *Client) Unlock(pin []byte, timeoutMs int64) error {
	return m.open(timeoutMs, func(ctx context.Context, c *client.Client) error { return c.Unlock(ctx, pin) })
}

// Lock stops the live connection and closes the vault, dropping its keys
// from memory. Call it when the app goes to the background for long or
// the user logs out; Unlock opens it again. Locking a locked Client does
// nothing.
func (m *Client) Lock() error {
	m.Stop()
	m.mu.Lock()
	c := m.c
	m.c = nil
	m.mu.Unlock()
	if c == nil {
		return nil
	}
	return wrap(c.Close())
}

// IsUnlocked reports whether the vault is open.
func (m *Client) IsUnlocked() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.c != nil
}

// Cancel ends every call in progress on this Client (they return
// parley:canceled), such as a Wake when iOS says background time is up.
// Calls made afterwards run normally. The live connection (Start) is not
// affected: Stop ends it.
func (m *Client) Cancel() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cancel()
	m.base, m.cancel = context.WithCancel(context.Background())
}

// ctxLocked returns a context for one call: canceled by Cancel, ending
// after timeoutMs. m.mu is held.
func (m *Client) ctxLocked(timeoutMs int64) (context.Context, context.CancelFunc) {
	if timeoutMs <= 0 {
		timeoutMs = DefaultTimeoutMs
	}
	return context.WithTimeout(m.base, time.Duration(timeoutMs)*time.Millisecond)
}

// sdk returns the open client.Client and a context for one call, or
// parley:locked.
func (m *Client) sdk(timeoutMs int64) (*client.Client, context.Context, context.CancelFunc, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.c == nil {
		return nil, nil, nil, wrap(client.ErrNotOpen)
	}
	ctx, cancel := m.ctxLocked(timeoutMs)
	return m.c, ctx, cancel, nil
}

// do runs f on the open client within timeoutMs.
func (m *Client) do(timeoutMs int64, f func(context.Context, *client.Client) error) error {
	c, ctx, cancel, err := m.sdk(timeoutMs)
	if err != nil {
		return err
	}
	defer cancel()
	return wrapCtx(ctx, f(ctx, c))
}

// wrapCtx is wrap, except that a relay not reached before the call's
// deadline or Cancel is parley:timeout or parley:canceled: the client
// reports either as unreachable.
func wrapCtx(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil {
		if c := codeOf(err); c == "unreachable" || c == "internal" {
			return &codeError{code: codeOf(ctx.Err()), err: err}
		}
	}
	return wrap(err)
}

// ChangePIN re-wraps the vault's key under newPIN (which must pass the
// PIN policy), keeping its factors. oldPIN must be the current PIN; a
// wrong one counts as a failed attempt. A vault with the relay factor
// needs the relay within timeoutMs.
func (m *Client) ChangePIN(oldPIN, newPIN []byte, timeoutMs int64) error {
	return m.do(timeoutMs, func(ctx context.Context, c *client.Client) error {
		return c.ChangePIN(ctx, oldPIN, newPIN)
	})
}

// SetFactors re-wraps the vault's key under pin (the current PIN) and the
// factors chosen: relay makes the relay count wrong PINs and destroy the
// vault's key after too many in a row (the device must be registered;
// unlocking then needs the relay); keystore locks it with the Keystore of
// SetKeystore as well (false removes it). Call it after Register to turn
// the relay factor on.
func (m *Client) SetFactors(pin []byte, relay, keystore bool, timeoutMs int64) error {
	m.mu.Lock()
	var fs []client.Factor
	if keystore {
		fs = m.factors
		if fs == nil {
			m.mu.Unlock()
			return invalid("SetFactors with keystore: call SetKeystore first")
		}
	}
	m.mu.Unlock()
	return m.do(timeoutMs, func(ctx context.Context, c *client.Client) error {
		return c.SetFactors(ctx, pin, client.FactorOptions{Relay: relay, Factors: fs})
	})
}

// RelayAttemptsLeft asks the relay how many wrong PINs in a row the vault
// may still take before the relay destroys its key, for the PIN screen;
// -1 if the vault has no relay factor. It works while the Client is
// locked and counts nothing.
func (m *Client) RelayAttemptsLeft(timeoutMs int64) (int32, error) {
	m.mu.Lock()
	c := m.c
	if c == nil {
		c = m.newSDK()
	}
	ctx, cancel := m.ctxLocked(timeoutMs)
	m.mu.Unlock()
	defer cancel()
	n, err := c.RelayAttemptsLeft(ctx)
	return int32(n), wrapCtx(ctx, err)
}

// CheckPIN reports whether pin would pass the PIN policy of Create and
// ChangePIN: nil, or parley:weak_pin naming the rule it breaks.
func CheckPIN(pin []byte) error { return wrap(client.PINPolicy{}.Check(pin)) }

// PINRules says what passes the PIN policy, for the app's hint.
func PINRules() string { return client.PINPolicy{}.Describe() }
