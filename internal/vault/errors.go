package vault

import (
	"errors"
	"fmt"
	"time"
)

// Errors callers branch on, with errors.Is. Functions wrap them with
// context.
var (
	// ErrWrongPIN: the PIN (with the factors) does not unlock the vault.
	// The error is a *WrongPINError carrying the attempt count.
	ErrWrongPIN = errors.New("vault: wrong PIN")
	// ErrLocked: too many wrong PINs; the error is a *LockedError
	// carrying the time at which the next attempt is allowed.
	ErrLocked = errors.New("vault: locked after too many wrong PINs")
	// ErrWiped: the vault's key was destroyed after Options.WipeAfter
	// wrong PINs. Its records can never be read again.
	ErrWiped = errors.New("vault: wiped after too many wrong PINs")
	// ErrCorrupt: a file or record was tampered with or truncated. Nothing
	// read from it is returned.
	ErrCorrupt = errors.New("vault: corrupt")
	// ErrNewerVersion: the vault's database was written by a newer
	// version of this package, whose schema this one cannot read. Nothing
	// was changed; open it with that version.
	ErrNewerVersion = errors.New("vault: written by a newer version")
	// ErrNotFound: no record with that namespace and key.
	ErrNotFound = errors.New("vault: not found")
	// ErrNoVault: the directory holds no vault.
	ErrNoVault = errors.New("vault: no vault in directory")
	// ErrExists: Create found a vault already in the directory.
	ErrExists = errors.New("vault: a vault already exists in directory")
	// ErrFactorMismatch: the factors given are not the ones the vault
	// was created with.
	ErrFactorMismatch = errors.New("vault: factors do not match the vault")
	// ErrInvalid: an argument is out of range (an empty PIN, a namespace
	// or key too long, ...).
	ErrInvalid = errors.New("vault: invalid argument")
	// ErrClosed: the Vault was closed.
	ErrClosed = errors.New("vault: closed")
	// ErrBusy: another process (or another Vault in this one) has the
	// database open.
	ErrBusy = errors.New("vault: in use by another process")
)

// WrongPINError reports a wrong PIN. It matches ErrWrongPIN.
type WrongPINError struct {
	// Failures is the number of consecutive wrong PINs, this one included.
	Failures int
	// Remaining is how many more wrong PINs wipe the vault, or -1 when
	// Options.WipeAfter is 0 (never wipe).
	Remaining int
	// RetryAt is when the next attempt is allowed; zero if at once.
	RetryAt time.Time
}

func (e *WrongPINError) Error() string {
	s := fmt.Sprintf("vault: wrong PIN (%d consecutive failures", e.Failures)
	if e.Remaining >= 0 {
		s += fmt.Sprintf(", %d before the vault is wiped", e.Remaining)
	}
	if !e.RetryAt.IsZero() {
		s += ", next attempt after " + e.RetryAt.UTC().Format(time.RFC3339)
	}
	return s + ")"
}

func (e *WrongPINError) Unwrap() error { return ErrWrongPIN }

// LockedError reports that no PIN is tried until Until. It matches
// ErrLocked.
type LockedError struct {
	Until time.Time
}

func (e *LockedError) Error() string {
	return "vault: locked after too many wrong PINs until " + e.Until.UTC().Format(time.RFC3339)
}

func (e *LockedError) Unwrap() error { return ErrLocked }

// corrupt wraps ErrCorrupt with a detail.
func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}
