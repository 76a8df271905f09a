package vault

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
)

// What factors that live outside the vault need from it: the factor names
// before unlocking (to know which factors to build), atomic files beside
// it (their own state, such as the relay factor's credentials), and a
// re-wrap that changes the PIN and the factors at once.

// FactorNames returns the names of the factors the vault in dir is locked
// by, in header order, without unlocking it. It fails like Open: ErrNoVault,
// ErrWiped, ErrCorrupt.
func FactorNames(dir string) ([]string, error) {
	h, err := readHeader(dir)
	if err != nil {
		return nil, err
	}
	return append([]string(nil), h.factors...), nil
}

// WriteFile replaces dir/name with data atomically (a crash leaves the old
// or the new content, never neither) with the vault's file mode, 0600. It
// is for files kept beside the vault; name must be a plain file name and
// not one of the vault's own files.
func WriteFile(dir, name string, data []byte) error {
	if name == "" || name != filepath.Base(name) || name == "." || name == ".." ||
		name == headerFile || name == attemptsFile || name == lockFile || strings.HasPrefix(name, dbFile) {
		return fmt.Errorf("%w: file name %q", ErrInvalid, name)
	}
	return writeFileAtomic(dir, name, data)
}

// Rekey re-wraps the data key under newPIN and factors (nil: none) in one
// atomic header write: ChangePIN and SetFactors at once. oldPIN is checked
// with the current factors like ChangePIN's, and a wrong one counts the
// same way. Each factor's Secret is called once for the new wrapping,
// after the old one is checked; if any step fails, the vault keeps its
// current header.
func (v *Vault) Rekey(ctx context.Context, oldPIN, newPIN []byte, factors []Factor) error {
	if err := checkPIN(newPIN); err != nil {
		return err
	}
	if _, err := factorNames(factors); err != nil {
		return err
	}
	return v.rekey(ctx, oldPIN, newPIN, append([]Factor(nil), factors...), true)
}
