package vault

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"crypto/aes"
	"golang.org/x/crypto/xts"
)

// Deletion on disk. With secure_delete a deleted record's cell is
// overwritten in its page, but an earlier image of that page may still
// sit in the write-ahead log (until SQLite reuses the frame), where
// anyone who later holds the data key could read it. Compact copies the
// log back into the database and truncates it to nothing, then rebuilds
// the database (VACUUM), so that no page image of a deleted record is
// left in the vault's files. It costs a rewrite of the whole database:
// run it after deletions that matter (disappearing messages), not after
// every write.

// Compact makes deleted records unrecoverable from the vault's files:
// it checkpoints and truncates the write-ahead log, rebuilds the
// database, and truncates the log again. Flash storage may keep old
// blocks below the file system; see docs/threat-model.md.
func (v *Vault) Compact(ctx context.Context) error {
	v.closeMu.RLock()
	defer v.closeMu.RUnlock()
	if v.closed {
		return ErrClosed
	}
	for _, q := range []string{"PRAGMA wal_checkpoint(TRUNCATE)", "VACUUM", "PRAGMA wal_checkpoint(TRUNCATE)"} {
		if _, err := v.db.ExecContext(ctx, q); err != nil {
			return dbErr("compacting", err)
		}
	}
	return nil
}

// UnsafeSealedForTests returns the record (ns, key) as it is stored: the
// sealed bytes. It panics outside a test binary.
func (v *Vault) UnsafeSealedForTests(ns, key string) ([]byte, error) {
	if !testing.Testing() {
		panic("vault: UnsafeSealedForTests called outside a test binary")
	}
	var sealed []byte
	err := v.Update(func(tx *Tx) error {
		return tx.queryRow(qGet, tx.keys.recordID(ns, key)).Scan(&sealed)
	})
	return sealed, err
}

// UnsafeFilesHoldForTests reports whether the decrypted pages of the
// vault's database files (the database, its log and journal) hold
// needle: what an attacker holding the data key could read from them.
// It panics outside a test binary.
func (v *Vault) UnsafeFilesHoldForTests(needle []byte) (bool, error) {
	if !testing.Testing() {
		panic("vault: UnsafeFilesHoldForTests called outside a test binary")
	}
	xk := derive(v.dataKey.bytes(), nil, labelSQLiteXTS, xtsKeySize)
	c, err := xts.NewCipher(aes.NewCipher, xk)
	if err != nil {
		return false, err
	}
	for _, suffix := range append([]string{""}, dbSideFiles...) {
		raw, err := os.ReadFile(filepath.Join(v.dir, dbFile+suffix))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return false, err
		}
		if bytes.Contains(decryptSectors(c, raw), needle) {
			return true, nil
		}
	}
	return false, nil
}

// decryptSectors undoes the xts VFS: each 512-byte sector is encrypted
// with its number as the tweak.
func decryptSectors(c *xts.Cipher, raw []byte) []byte {
	const sector = 512
	out := make([]byte, len(raw)-len(raw)%sector)
	for off := 0; off+sector <= len(raw); off += sector {
		c.Decrypt(out[off:off+sector], raw[off:off+sector], uint64(off/sector))
	}
	return out
}
