package client

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"parley.dev/client/internal/relay"
	"parley.dev/internal/unlock"
	"parley.dev/internal/vault"
	"parley.dev/internal/wire"
)

// Errors of the relay PIN factor. Each also matches the broader sentinel
// named in its doc, so code written for those keeps working.
var (
	// ErrRelayNeeded: the vault is locked by the relay's factor and the
	// relay cannot be reached, so it cannot be unlocked now. Nothing was
	// counted. Also matches ErrUnreachable.
	ErrRelayNeeded = errors.New("client: the relay must be reachable to unlock this vault")
	// ErrRelayLocked: the relay destroyed this vault's key after too many
	// wrong PINs in a row; the vault can never be opened again. Create a
	// new one and register again (or link this device again). Also
	// matches ErrWiped.
	ErrRelayLocked = errors.New("client: locked for good: the relay destroyed this vault's key after too many wrong PINs")
	// ErrRelayKeyUnknown: the relay no longer holds this vault's key: the
	// device was revoked (or its user registered again with a token), or
	// the relay lost its data. The vault cannot be opened. Also matches
	// ErrRevoked.
	ErrRelayKeyUnknown = errors.New("client: the relay no longer holds this vault's key")
)

// ErrFactorMismatch: the factors given (Client.Factors) are not the ones
// the vault was locked with at Create or the last SetFactors: a keystore
// factor is missing or one too many. Nothing was counted; give the same
// factors, by name. It is the vault's own sentinel.
var ErrFactorMismatch = vault.ErrFactorMismatch

// bothErr matches two sentinels; its message is the first's.
type bothErr struct {
	main, also error
	detail     string
}

func (e *bothErr) Error() string   { return e.main.Error() + e.detail }
func (e *bothErr) Unwrap() []error { return []error{e.main, e.also} }

// FactorOptions say what locks a vault besides the PIN (SetFactors).
type FactorOptions struct {
	// Relay enrols the relay's PIN factor: the relay counts wrong PINs and
	// destroys the vault's key after too many in a row, and a copy of the
	// vault's files cannot be guessed at without the relay. Unlocking then
	// needs the relay. The device must be registered.
	Relay bool
	// Factors are the app's factors (KeystoreFactor); nil removes them.
	// Unlock then needs these, by name, in Client.Factors.
	Factors []Factor
}

// factorState is what a Client knows of its vault's factors.
type factorState struct {
	rekeyMu sync.Mutex      // one SetFactors or ChangePIN at a time; taken before Client.mu
	relay   *relayFactor    // the relay factor of the open vault; under Client.mu
	kdf     vault.KDFParams // Argon2id costs for new vaults and wrappings (tests); zero: defaults
}

// SetFactors re-wraps the vault's key under pin and the factors in opt,
// for example to turn on the relay's PIN factor after Register, or to add
// a keystore. pin must be the current PIN; a wrong one counts like one
// at Unlock. The change is atomic: a crash leaves the vault under either
// the old or the new factors, and the next Unlock tidies up (retiring the
// credential it no longer uses at the relay). With opt.Relay every call
// enrols a fresh credential. Errors: ErrNotRegistered (opt.Relay on an
// unregistered device), ErrWrongPIN, ErrUnreachable, ErrInvalid.
func (c *Client) SetFactors(ctx context.Context, pin []byte, opt FactorOptions) error {
	if err := checkAppFactors(opt.Factors); err != nil {
		return err
	}
	var err error
	if opt.Relay {
		_, _, err = c.registered()
	} else {
		_, err = c.vault()
	}
	if err != nil {
		return err
	}
	return c.rekey(ctx, pin, pin, opt.Relay, opt.Factors)
}

// RelayFactor reports whether the open vault is locked by the relay's PIN
// factor.
func (c *Client) RelayFactor() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fs.relay != nil
}

// RelayAttemptsLeft asks the relay how many wrong PINs in a row the vault
// may still take before its key is destroyed; -1 if the vault has no
// relay factor. It works while the vault is locked, so an app can show it
// on its PIN screen, and counts nothing.
func (c *Client) RelayAttemptsLeft(ctx context.Context) (int, error) {
	c.mu.Lock()
	app := c.Factors
	c.mu.Unlock()
	_, rf, err := c.openFactors(app)
	if err != nil {
		return 0, err
	}
	if rf == nil {
		return -1, nil
	}
	ch, err := rf.rc.UnlockChallenge(ctx, rf.id())
	if err != nil {
		return 0, unlockErr(err, nil)
	}
	return int(ch.Left), nil
}

// changePIN re-wraps the vault under newPIN with the same factors; with
// the relay factor that is a new enrolment.
func (c *Client) changePIN(ctx context.Context, oldPIN, newPIN []byte) error {
	if err := c.pinPolicy(c.policyNow()).Check(newPIN); err != nil {
		return err
	}
	c.mu.Lock()
	relayOn, app := c.fs.relay != nil, c.Factors
	c.mu.Unlock()
	if err := c.rekey(ctx, oldPIN, newPIN, relayOn, app); err != nil {
		return err
	}
	c.mu.Lock()
	c.weakPIN = false
	c.mu.Unlock()
	return nil
}

// rekey re-wraps the vault's data key under newPIN, the app's factors and,
// if relayOn, a freshly enrolled relay credential. The order makes a crash
// at any point leave a header that unlocks with the credentials on disk:
//
//  1. the new credential joins the credential file (beside the old one);
//  2. vault.Rekey checks oldPIN (one counted guess with the old
//     credential), enrols the new credential (device-authenticated, no
//     guess) and writes the new header atomically;
//  3. the relay retires every other credential of this device and the
//     file keeps only the one the header names (cleanupCredentials, which
//     the next Unlock repeats if this one did not finish).
func (c *Client) rekey(ctx context.Context, oldPIN, newPIN []byte, relayOn bool, app []Factor) error {
	c.fs.rekeyMu.Lock()
	defer c.fs.rekeyMu.Unlock()
	v, err := c.vault()
	if err != nil {
		return err
	}
	if err := c.cleanupCredentials(ctx); err != nil && relayOn {
		return err
	}
	var nf *relayFactor
	if relayOn {
		if nf, err = c.prepareRelayFactor(); err != nil {
			return err
		}
	}
	c.mu.Lock()
	old := c.fs.relay
	c.mu.Unlock()
	err = v.Rekey(ctx, oldPIN, newPIN, vaultFactors(app, nf))
	if errors.Is(err, errTestCrash) {
		return err
	}
	if err != nil {
		if old != nil && !errors.Is(err, vault.ErrWrongPIN) {
			old.confirm(ctx) // the old PIN was right: undo its count
		}
		c.cleanupCredentials(ctx)
		return unlockErr(err, old)
	}
	if old != nil {
		old.forget()
	}
	c.mu.Lock()
	c.fs.relay, c.Factors = nf, append([]Factor(nil), app...)
	c.mu.Unlock()
	c.log.Info("vault re-wrapped", "relay_factor", relayOn, "app_factors", len(app))
	if err := c.hooks.crash(crashRekeyed); err != nil {
		return err
	}
	if err := c.cleanupCredentials(ctx); err != nil {
		if errors.Is(err, errTestCrash) {
			return err
		}
		c.log.Warn("could not retire the old unlock credential; the next unlock retries", "err", err)
	}
	return nil
}

// prepareRelayFactor makes a fresh credential for the relay the account
// uses, adds it to the credential file, and returns it as a factor that
// enrols on its first use.
func (c *Client) prepareRelayFactor() (*relayFactor, error) {
	a, rc, err := c.relayAs()
	if err != nil {
		return nil, err
	}
	cfg, err := c.relayConfig(a.prof)
	if err != nil {
		return nil, err
	}
	cred, err := unlock.GenerateCredential()
	if err != nil {
		return nil, err
	}
	e := unlock.Entry{Credential: cred, Relay: unlock.Relay{URL: cfg.URL, CA: cfg.Roots, Pins: cfg.Pins}}
	f, err := readCredentials(c.Home)
	if err != nil {
		return nil, err
	}
	f.Entries = append(f.Entries, e)
	if err := writeCredentials(c.Home, f); err != nil {
		return nil, err
	}
	if err := c.hooks.crash(crashCredentialAdded); err != nil {
		return nil, err
	}
	rf := newRelayFactor(e, rc, c.hooks)
	auth := a.auth()
	rf.enrol = &auth
	return rf, nil
}

// cleanupCredentials retires, at the relay, every credential of this
// device but the one the vault's header names, and keeps only that one in
// the credential file. It is idempotent; Unlock calls it too, so a change
// interrupted by a crash is finished later.
func (c *Client) cleanupCredentials(ctx context.Context) error {
	f, err := readCredentials(c.Home)
	if err != nil || len(f.Entries) == 0 {
		return err
	}
	names, err := vault.FactorNames(c.Home)
	if err != nil {
		return vaultErr(err)
	}
	keep := &unlock.File{}
	for _, n := range names {
		if id, ok := unlock.ParseFactorName(n); ok && f.Find(id) != nil {
			keep.Entries = append(keep.Entries, *f.Find(id))
		}
	}
	if len(keep.Entries) == len(f.Entries) {
		return nil
	}
	if err := c.retireAtRelay(ctx, keep); err != nil {
		return err
	}
	if err := c.hooks.crash(crashRetired); err != nil {
		return err
	}
	return writeCredentials(c.Home, keep)
}

// retireAtRelay deletes this device's unlock keys but keep's. An
// unregistered device has none; a revoked one has none left.
func (c *Client) retireAtRelay(ctx context.Context, keep *unlock.File) error {
	_, a, err := c.registered()
	if err != nil {
		return nil
	}
	rc, err := c.relayClient()
	if err != nil {
		return err
	}
	var k *[wire.UnlockFieldLen]byte
	if len(keep.Entries) > 0 {
		id := keep.Entries[0].Credential.ID()
		k = (*[wire.UnlockFieldLen]byte)(&id)
	}
	err = rc.UnlockRetire(ctx, a.auth(), k)
	if errors.Is(err, wire.CodeUnauthorized) {
		return nil
	}
	return relayErr(err)
}

// openFactors builds the factors the locked vault in Home needs: the
// app's and, if its header names one, the relay factor
// from the credential file. No path skips a factor the header names.
func (c *Client) openFactors(app []Factor) ([]vault.Factor, *relayFactor, error) {
	if err := checkAppFactors(app); err != nil {
		return nil, nil, err
	}
	names, err := vault.FactorNames(c.Home)
	if err != nil {
		return nil, nil, vaultErr(err)
	}
	var rf *relayFactor
	for _, n := range names {
		id, ok := unlock.ParseFactorName(n)
		if !ok {
			continue
		}
		f, err := readCredentials(c.Home)
		if err != nil {
			return nil, nil, err
		}
		e := f.Find(id)
		if e == nil {
			return nil, nil, fmt.Errorf("client: the vault is locked by the relay's factor, but its credential is not in %s: the vault cannot be unlocked without it",
				filepath.Join(c.Home, unlock.FileName))
		}
		if rf, err = c.unlockFactor(*e); err != nil {
			return nil, nil, err
		}
	}
	return vaultFactors(app, rf), rf, nil
}

// unlockFactor is the relay factor of credential e, talking to e's relay
// (or to Server, CAFile and Pins, if set, which override it).
func (c *Client) unlockFactor(e unlock.Entry) (*relayFactor, error) {
	cfg, err := c.relayConfig(profileRec{Server: e.Relay.URL, CA: e.Relay.CA, Pins: e.Relay.Pins})
	if err != nil {
		return nil, err
	}
	cfg.Logger = c.Logger
	rc, err := relay.New(cfg)
	if err != nil {
		return nil, relayErr(err)
	}
	return newRelayFactor(e, rc, c.hooks), nil
}

// afterUnlock finishes an unlock: it proves the success to the relay
// (resetting its counter) and tidies up credentials an interrupted change
// left. If the relay refuses a right proof (it lost or changed the
// verifier), the factor is enrolled afresh with pin. Failures are logged:
// the vault is open either way.
func (c *Client) afterUnlock(ctx context.Context, pin []byte, rf *relayFactor) {
	if rf != nil {
		err := rf.confirm(ctx)
		switch {
		case errors.Is(err, wire.CodeUnauthorized):
			c.log.Warn("the relay refused the proof of a right PIN; enrolling the relay factor again")
			c.mu.Lock()
			app := c.Factors
			c.mu.Unlock()
			if err := c.rekey(ctx, pin, pin, true, app); err != nil {
				c.log.Warn("could not enrol the relay factor again", "err", err)
			}
			return
		case err != nil:
			c.log.Warn("could not reset the relay's guess counter; the next unlock will", "err", err)
		}
	}
	if err := c.cleanupCredentials(ctx); err != nil {
		c.log.Warn("could not retire old unlock credentials; the next unlock retries", "err", err)
	}
}

// vaultFactors is the app's factors and the relay factor, if any.
func vaultFactors(app []Factor, rf *relayFactor) []vault.Factor {
	fs := make([]vault.Factor, 0, len(app)+1)
	for _, f := range app {
		fs = append(fs, f)
	}
	if rf != nil {
		fs = append(fs, rf)
	}
	return fs
}

// unlockErr maps errors of an unlock (or a re-wrap) with the relay
// factor rf (nil if none) to this package's.
func unlockErr(err error, rf *relayFactor) error {
	var we *wire.Error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, wire.CodeUnlockLocked):
		return &bothErr{main: ErrRelayLocked, also: ErrWiped}
	case errors.Is(err, wire.CodeUnlockUnknown):
		return &bothErr{main: ErrRelayKeyUnknown, also: ErrRevoked, detail: " (revoked device, or the relay lost its data)"}
	case errors.Is(err, relay.ErrUnreachable), errors.Is(err, relay.ErrClosed),
		errors.Is(err, wire.CodeUnavailable), errors.Is(err, wire.CodeInternal):
		return &bothErr{main: ErrRelayNeeded, also: ErrUnreachable, detail: "; nothing was counted"}
	case errors.As(err, &we), errors.Is(err, relay.ErrUntrusted), errors.Is(err, relay.ErrConfig), errors.Is(err, relay.ErrProtocol):
		return relayErr(err)
	}
	e := vaultErr(err)
	var pe *PINError
	if rf != nil && errors.As(e, &pe) && errors.Is(pe, ErrWrongPIN) {
		if left := rf.guessesLeft(); left >= 0 && (pe.Remaining < 0 || left < pe.Remaining) {
			pe.Remaining, pe.Relay = left, true
		}
		rf.forget()
	}
	return e
}

// readCredentials reads the credential file in home; none is an empty
// file.
func readCredentials(home string) (*unlock.File, error) {
	b, err := os.ReadFile(filepath.Join(home, unlock.FileName))
	if errors.Is(err, fs.ErrNotExist) {
		return &unlock.File{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	f, err := unlock.ParseFile(b)
	if err != nil {
		return nil, fmt.Errorf("client: %s: %w", unlock.FileName, err)
	}
	return f, nil
}

// writeCredentials replaces the credential file atomically; an empty one
// is removed.
func writeCredentials(home string, f *unlock.File) error {
	if len(f.Entries) == 0 {
		err := os.Remove(filepath.Join(home, unlock.FileName))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("client: %w", err)
		}
		return nil
	}
	b, err := f.Marshal()
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	return vaultErr(vault.WriteFile(home, unlock.FileName, b))
}
