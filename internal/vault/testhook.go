package vault

import "testing"

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
