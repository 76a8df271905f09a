package vault

import (
	"context"
	"fmt"
	"os"
)

// Destroy closes the vault and erases it for good, as when its account is
// deleted: the header (and with it the wrapped data key) is overwritten
// with random bytes and fsynced, so that no copy of the other files made
// from now on can be opened whatever the PIN, and then the whole
// directory is removed, the files of attachments and the factor files
// with it. Flash storage may keep old blocks (docs/threat-model.md). Every
// later call returns ErrClosed.
func (v *Vault) Destroy(ctx context.Context) error {
	v.closeMu.Lock()
	defer v.closeMu.Unlock()
	if v.closed {
		return ErrClosed
	}
	release, err := lockAttempts(ctx, v.dir)
	if err != nil {
		return err
	}
	v.closed = true
	_ = v.shut() // the files go next: an error closing them no longer matters
	werr := wipe(v.dir)
	release()
	if werr != nil {
		return werr
	}
	if err := os.RemoveAll(v.dir); err != nil {
		return fmt.Errorf("vault: removing %s: %w", v.dir, err)
	}
	return nil
}
