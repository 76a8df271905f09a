package vault

import (
	"bytes"
	"crypto/aes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/xts"
)

// UnsafeCheapKDFForTests makes Argon2id nearly free for the rest of the
// process: KDFParams{} then means 64 KiB and one pass, and headers below
// the floors (MinKDFMemory, MinKDFTime) are accepted.
//
// It exists only for the tests of this module: the vault's own tests and
// the CLI's testscript tests, which call it from TestMain. It panics
// unless the binary is a test binary (testing.Testing), so a program
// cannot weaken its vaults by mistake. A vault created under it yields to
// millions of PIN guesses per second.
func UnsafeCheapKDFForTests() {
	if !testing.Testing() {
		panic("vault: UnsafeCheapKDFForTests called outside a test binary")
	}
	cheapKDF.Store(true)
}

// UnsafeSealedForTests returns the record (ns, key) as it is stored: the
// sealed bytes. It panics outside a test binary.
func (v *Vault) UnsafeSealedForTests(ns, key string) ([]byte, error) {
	if !testing.Testing() {
		panic("vault: UnsafeSealedForTests called outside a test binary")
	}
	var sealed []byte
	err := v.Update(func(tx *Tx) error {
		return tx.queryRow(tx.v.q.get, tx.indexMAC().recordID(ns, key)).Scan(&sealed)
	})
	return sealed, err
}

// UnsafeSetSchemaVersionForTests stamps the database with schema version
// n, as a newer (or older) build of this package would have left it. It
// panics outside a test binary.
func (v *Vault) UnsafeSetSchemaVersionForTests(n int) error {
	if !testing.Testing() {
		panic("vault: UnsafeSetSchemaVersionForTests called outside a test binary")
	}
	_, err := v.db.Exec(fmt.Sprintf("PRAGMA user_version = %d", n))
	return err
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
