package client_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"parley.dev/client"
	"parley.dev/internal/unlock"
	"parley.dev/internal/vault"
	"parley.dev/internal/wire"
	"parley.dev/server/servertest"
)

var wrongPIN = []byte("731950")

// withRelayFactor registers user and turns the relay factor on.
func withRelayFactor(t *testing.T, r *servertest.Relay, user string) *client.Client {
	t.Helper()
	c := register(t, r, user)
	if err := c.SetFactors(context.Background(), testPIN, client.FactorOptions{Relay: true}); err != nil {
		t.Fatalf("SetFactors: %v", err)
	}
	if !c.RelayFactor() {
		t.Fatal("RelayFactor() is false after enrolment")
	}
	return c
}

// unlockAs opens home in a fresh Client, as a restarted app would.
func unlockAs(home string, pin []byte, fs ...client.Factor) (*client.Client, error) {
	return unlockAt(home, pin, time.Now, fs...)
}

// unlockAt is unlockAs with the client's clock (the local lockout's).
func unlockAt(home string, pin []byte, now func() time.Time, fs ...client.Factor) (*client.Client, error) {
	c := &client.Client{Home: home, Factors: fs}
	client.SetClock(c, now)
	if err := c.Unlock(context.Background(), pin); err != nil {
		return nil, err
	}
	return c, nil
}

func mustUnlock(t *testing.T, home string, pin []byte, fs ...client.Factor) *client.Client {
	t.Helper()
	c, err := unlockAs(home, pin, fs...)
	if err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// copyDir copies a vault directory's regular files.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.RemoveAll(dst); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, filepath.Base(p)), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func pinError(t *testing.T, err error) *client.PINError {
	t.Helper()
	var pe *client.PINError
	if !errors.As(err, &pe) || !errors.Is(err, client.ErrWrongPIN) {
		t.Fatalf("err = %v, want a wrong PIN", err)
	}
	return pe
}

// TestRelayFactorRollback is the attack a thief with the files makes: copy
// the vault aside, guess, restore the copy before every guess so that no
// local counter or delay ever grows. The relay's counter holds through
// every rollback: after ten wrong guesses even the right PIN fails with
// "locked", for good.
func TestRelayFactorRollback(t *testing.T) {
	t.Parallel()
	r := startRelay(t)
	alice := withRelayFactor(t, r, "alice")
	home := alice.Home
	alice.Close()
	stash := filepath.Join(t.TempDir(), "stash")
	copyDir(t, home, stash)
	for i := 1; i <= unlock.DefaultMaxFailures; i++ {
		copyDir(t, stash, home)
		_, err := unlockAs(home, wrongPIN)
		pe := pinError(t, err)
		if !pe.Relay || pe.Remaining != unlock.DefaultMaxFailures-i || !pe.RetryAt.IsZero() {
			t.Fatalf("guess %d: %+v, want the relay's count %d and no local delay", i, pe, unlock.DefaultMaxFailures-i)
		}
	}
	copyDir(t, stash, home)
	_, err := unlockAs(home, testPIN)
	if !errors.Is(err, client.ErrRelayLocked) || !errors.Is(err, client.ErrWiped) || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("right PIN after ten rolled-back guesses: %v, want locked for good", err)
	}
	_, err = unlockAs(home, testPIN)
	if !errors.Is(err, client.ErrRelayLocked) {
		t.Fatalf("again: %v", err)
	}
}

// TestRelayFactorNineWrongThenRight: nine wrong PINs, the right one opens
// the vault, and the relay's counter is back at zero.
func TestRelayFactorNineWrongThenRight(t *testing.T) {
	t.Parallel()
	r := startRelay(t)
	alice := withRelayFactor(t, r, "alice")
	home := alice.Home
	alice.Close()
	probe := &client.Client{Home: home}
	clock := time.Now()
	for i := 1; i <= 9; i++ {
		// The user waits out each local delay (after five wrong PINs).
		clock = clock.Add(2 * time.Hour)
		_, err := unlockAt(home, wrongPIN, func() time.Time { return clock })
		pinError(t, err)
		if left, err := probe.RelayAttemptsLeft(context.Background()); err != nil || left != unlock.DefaultMaxFailures-i {
			t.Fatalf("after %d wrong: %d left, %v", i, left, err)
		}
	}
	clock = clock.Add(2 * time.Hour)
	c, err := unlockAt(home, testPIN, func() time.Time { return clock })
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if a, err := c.Address(); err != nil || a.User != "alice" {
		t.Fatalf("after the right PIN: %v, %v", a, err)
	}
	if left, err := c.RelayAttemptsLeft(context.Background()); err != nil || left != unlock.DefaultMaxFailures {
		t.Fatalf("counter after a right PIN: %d left, %v", left, err)
	}
}

// TestRelayFactorNeedsTheRelay: the files and the right PIN without the
// relay cannot produce the data key. Unlock fails clearly, counts nothing
// locally or at the relay, and no path skips the factor.
func TestRelayFactorNeedsTheRelay(t *testing.T) {
	t.Parallel()
	r := startRelay(t)
	alice := withRelayFactor(t, r, "alice")
	home := alice.Home
	alice.Close()
	attempts := filepath.Join(home, "vault.attempts")
	before, err := os.ReadFile(attempts)
	if err != nil {
		t.Fatal(err)
	}

	r.Stop(t)
	_, err = unlockAs(home, testPIN)
	if !errors.Is(err, client.ErrRelayNeeded) || !errors.Is(err, client.ErrUnreachable) {
		t.Fatalf("Unlock with the relay down: %v, want ErrRelayNeeded", err)
	}
	if after, _ := os.ReadFile(attempts); !bytes.Equal(before, after) {
		t.Fatal("an unlock without the relay changed the local attempt counter")
	}

	// The vault itself refuses to open without the relay factor, and a
	// stand-in factor of the same name (no OPRF output) is a wrong PIN.
	names, err := vault.FactorNames(home)
	if err != nil || len(names) != 1 || !strings.HasPrefix(names[0], unlock.FactorPrefix) {
		t.Fatalf("factor names %q, %v", names, err)
	}
	_, err = vault.Open(context.Background(), home, testPIN, vault.Options{})
	if !errors.Is(err, vault.ErrFactorMismatch) {
		t.Fatalf("vault.Open without the factor: %v", err)
	}
	standIn := &fixedFactor{name: names[0], secret: bytes.Repeat([]byte{7}, 32)}
	_, err = vault.Open(context.Background(), home, testPIN, vault.Options{Factors: []vault.Factor{standIn}})
	if !errors.Is(err, vault.ErrWrongPIN) {
		t.Fatalf("vault.Open with a stand-in factor: %v", err)
	}
	// Without its credential file the client cannot even ask the relay.
	cred := filepath.Join(home, unlock.FileName)
	saved, _ := os.ReadFile(cred)
	os.Remove(cred)
	if _, err := unlockAs(home, testPIN); err == nil || !strings.Contains(err.Error(), unlock.FileName) {
		t.Fatalf("Unlock without the credential file: %v", err)
	}
	os.WriteFile(cred, saved, 0o600)
	os.WriteFile(attempts, before, 0o600) // undo the stand-in's local count

	r.Restart(t)
	c := mustUnlock(t, home, testPIN)
	if left, _ := c.RelayAttemptsLeft(context.Background()); left != unlock.DefaultMaxFailures {
		t.Fatalf("the relay counted %d guesses made while it was down", unlock.DefaultMaxFailures-left)
	}
}

type fixedFactor struct {
	name   string
	secret []byte
}

func (f *fixedFactor) Name() string { return f.name }
func (f *fixedFactor) Secret(context.Context, []byte) ([]byte, error) {
	return bytes.Clone(f.secret), nil
}

// TestChangePINWithRelayFactor: the new PIN works, the old does not, the
// relay keeps only the new credential, and weak PINs are refused.
func TestChangePINWithRelayFactor(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := startRelay(t)
	alice := withRelayFactor(t, r, "alice")
	old := client.UnlockCredentials(t, alice.Home)
	err := alice.ChangePIN(ctx, testPIN, []byte("123456"))
	var weak *client.WeakPINError
	if !errors.As(err, &weak) || weak.Rule != client.RuleSequence {
		t.Fatalf("ChangePIN to 123456: %v", err)
	}
	newPIN := []byte("open sesame, please")
	pinError(t, alice.ChangePIN(ctx, wrongPIN, newPIN))
	if err := alice.ChangePIN(ctx, testPIN, newPIN); err != nil {
		t.Fatal(err)
	}
	now := client.UnlockCredentials(t, alice.Home)
	if len(now) != 1 || now[0] == old[0] {
		t.Fatalf("credentials %d, changed %v", len(now), now[0] != old[0])
	}
	if err := client.ProbeCredential(ctx, alice, old[0]); !errors.Is(err, wire.CodeUnlockUnknown) {
		t.Fatalf("the old credential at the relay: %v, want retired", err)
	}
	home := alice.Home
	alice.Close()
	pinError(t, func() error { _, err := unlockAs(home, testPIN); return err }())
	c := mustUnlock(t, home, newPIN)
	if left, _ := c.RelayAttemptsLeft(ctx); left != unlock.DefaultMaxFailures {
		t.Fatalf("%d left after a right PIN", left)
	}
}

// TestRelayFactorRevokedDevice: revoking a lost phone destroys its vault's
// relay key: its vault can never be opened again, PIN or not.
func TestRelayFactorRevokedDevice(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := startRelay(t)
	alice := register(t, r, "alice")
	req := link(t, r, alice, "phone")
	if err := req.SetFactors(ctx, testPIN, client.FactorOptions{Relay: true}); err != nil {
		t.Fatal(err)
	}
	phone, _ := req.Address()
	req.Close()
	if err := alice.RevokeDevice(ctx, phone.Device); err != nil {
		t.Fatal(err)
	}
	_, err := unlockAs(req.Home, testPIN)
	if !errors.Is(err, client.ErrRelayKeyUnknown) || !errors.Is(err, client.ErrRevoked) {
		t.Fatalf("Unlock of a revoked phone: %v", err)
	}
}

// TestRelayFactorOff: SetFactors without Relay turns the factor off and
// retires the credential at the relay; the vault then opens offline.
func TestRelayFactorOff(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := startRelay(t)
	alice := withRelayFactor(t, r, "alice")
	ids := client.UnlockCredentials(t, alice.Home)
	if err := alice.SetFactors(ctx, testPIN, client.FactorOptions{}); err != nil {
		t.Fatal(err)
	}
	if alice.RelayFactor() || len(client.UnlockCredentials(t, alice.Home)) != 0 {
		t.Fatal("the relay factor is still on")
	}
	if err := client.ProbeCredential(ctx, alice, ids[0]); !errors.Is(err, wire.CodeUnlockUnknown) {
		t.Fatalf("credential at the relay: %v", err)
	}
	home := alice.Home
	alice.Close()
	r.Stop(t)
	c := mustUnlock(t, home, testPIN)
	if left, err := c.RelayAttemptsLeft(ctx); left != -1 || err != nil {
		t.Fatalf("RelayAttemptsLeft without the factor = %d, %v", left, err)
	}
}

// TestRelayFactorInUse: the right PIN on a vault another Client holds open
// fails with ErrInUse and costs no guess at the relay.
func TestRelayFactorInUse(t *testing.T) {
	t.Parallel()
	r := startRelay(t)
	alice := withRelayFactor(t, r, "alice")
	for range 3 {
		if _, err := unlockAs(alice.Home, testPIN); !errors.Is(err, client.ErrInUse) {
			t.Fatalf("second opener: %v", err)
		}
	}
	if left, err := alice.RelayAttemptsLeft(context.Background()); err != nil || left != unlock.DefaultMaxFailures {
		t.Fatalf("%d left after three right PINs on a busy vault, %v", left, err)
	}
}
