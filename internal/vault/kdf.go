package vault

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync/atomic"
)

// KDFParams are the Argon2id costs of deriving a key from the PIN. They are
// stored in the vault's header; Open checks them against the caps below
// before running the KDF, so a tampered header cannot make a device hang or
// run out of memory. The zero value means "use the defaults".
type KDFParams struct {
	Memory  uint32 // KiB
	Time    uint32 // passes over the memory
	Threads uint8  // lanes (Argon2's parallelism)
}

// Production defaults, chosen on the project's 2-core machine class (see
// BENCHMARKS.md, "Vault"): 64 MiB, 3 passes, 4 lanes take about 150 ms with
// both cores and about 275 ms on one. Four lanes let phones with 4 or more
// cores unlock faster without changing an attacker's cost per guess.
const (
	DefaultKDFMemory  = 64 * 1024 // KiB
	DefaultKDFTime    = 3
	DefaultKDFThreads = 4
)

// Floors below which no vault is created or opened (unless
// UnsafeCheapKDFForTests was called). They are OWASP's Argon2id minimum.
const (
	MinKDFMemory = 19 * 1024 // KiB
	MinKDFTime   = 2
)

// Caps above which a header is rejected before any work is done.
const (
	MaxKDFMemory  = 1 << 20 // KiB: 1 GiB
	MaxKDFTime    = 16
	MaxKDFThreads = 16
	// MaxKDFWork bounds Memory×Time (KiB·passes): 4 GiB-passes, for
	// example 1 GiB × 4 or 256 MiB × 16, a few seconds on a phone.
	MaxKDFWork = 4 << 20
)

// argon2MinMemoryPerLane is Argon2's own minimum: 8 KiB per lane.
const argon2MinMemoryPerLane = 8

// cheapKDF is the test hook; see UnsafeCheapKDFForTests.
var cheapKDF atomic.Bool

// testKDF are the parameters used by default once the test hook is set.
var testKDF = KDFParams{Memory: 64, Time: 1, Threads: 1}

// DefaultKDF returns the production parameters. It ignores the test hook,
// so a test can assert that the defaults stay strong.
func DefaultKDF() KDFParams {
	return KDFParams{Memory: DefaultKDFMemory, Time: DefaultKDFTime, Threads: DefaultKDFThreads}
}

// effective returns p, or the defaults when p is zero.
func (p KDFParams) effective() KDFParams {
	if p != (KDFParams{}) {
		return p
	}
	if cheapKDF.Load() {
		return testKDF
	}
	return DefaultKDF()
}

// check reports whether p is within the caps and, unless allowWeak, above
// the floors. It runs before any KDF work.
func (p KDFParams) check(allowWeak bool) error {
	switch {
	case p.Threads < 1 || p.Threads > MaxKDFThreads:
		return fmt.Errorf("kdf threads %d not in 1..%d", p.Threads, MaxKDFThreads)
	case p.Time < 1 || p.Time > MaxKDFTime:
		return fmt.Errorf("kdf time %d not in 1..%d", p.Time, MaxKDFTime)
	case p.Memory < argon2MinMemoryPerLane*uint32(p.Threads) || p.Memory > MaxKDFMemory:
		return fmt.Errorf("kdf memory %d KiB not in %d..%d", p.Memory, argon2MinMemoryPerLane*uint32(p.Threads), MaxKDFMemory)
	case uint64(p.Memory)*uint64(p.Time) > MaxKDFWork:
		return fmt.Errorf("kdf work %d×%d above %d KiB·passes", p.Memory, p.Time, MaxKDFWork)
	case !allowWeak && (p.Memory < MinKDFMemory || p.Time < MinKDFTime):
		return fmt.Errorf("kdf parameters %d KiB × %d below the floor %d KiB × %d", p.Memory, p.Time, MinKDFMemory, MinKDFTime)
	}
	return nil
}

// A Factor contributes a secret to the key-encryption key, beside the PIN.
// The host app implements it: a platform keystore (Android Keystore, iOS
// Keychain or Secure Enclave) now, a server-assisted OPRF later.
//
// Secret is called once per unlock (and twice by ChangePIN) with input, 32
// bytes derived from the PIN and the vault's salt after Argon2id, distinct
// per factor name. A factor that mixes input through a key it never reveals
// (a keystore HMAC, an OPRF evaluated by a rate-limiting server) makes
// every PIN guess need that factor, so a thief with only a copy of the
// files cannot guess offline. A factor that ignores input (a random secret
// kept elsewhere) still protects a copy that lacks it. Secret must return
// the same bytes for the same input, between MinFactorSecretLen and
// MaxFactorSecretLen long; the vault zeroes the returned slice after use.
// An error aborts the unlock without counting a wrong PIN.
//
// Name identifies the factor in the vault's header: 1 to MaxFactorNameLen
// printable ASCII bytes, unique within a vault.
type Factor interface {
	Name() string
	Secret(ctx context.Context, input []byte) ([]byte, error)
}

// Limits on factors.
const (
	MaxFactors         = 8
	MaxFactorNameLen   = 64
	MinFactorSecretLen = 16
	MaxFactorSecretLen = 1024
)

// checkFactorName reports whether name is usable as a factor's name.
func checkFactorName(name string) error {
	if len(name) == 0 || len(name) > MaxFactorNameLen {
		return fmt.Errorf("factor name length %d not in 1..%d", len(name), MaxFactorNameLen)
	}
	for i := 0; i < len(name); i++ {
		if name[i] < 0x21 || name[i] > 0x7e {
			return fmt.Errorf("factor name has a byte 0x%02x outside printable ASCII", name[i])
		}
	}
	return nil
}

// factorNames validates fs and returns their names in order.
func factorNames(fs []Factor) ([]string, error) {
	if len(fs) > MaxFactors {
		return nil, fmt.Errorf("%w: %d factors, at most %d", ErrInvalid, len(fs), MaxFactors)
	}
	names := make([]string, len(fs))
	seen := make(map[string]bool, len(fs))
	for i, f := range fs {
		if f == nil {
			return nil, fmt.Errorf("%w: nil factor", ErrInvalid)
		}
		n := f.Name()
		if err := checkFactorName(n); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		if seen[n] {
			return nil, fmt.Errorf("%w: factor %q given twice", ErrInvalid, n)
		}
		seen[n] = true
		names[i] = n
	}
	return names, nil
}

// matchFactors returns fs in the order the header names them, or
// ErrFactorMismatch if the sets differ.
func matchFactors(names []string, fs []Factor) ([]Factor, error) {
	given, err := factorNames(fs)
	if err != nil {
		return nil, err
	}
	byName := make(map[string]Factor, len(fs))
	for i, n := range given {
		byName[n] = fs[i]
	}
	out := make([]Factor, len(names))
	for i, n := range names {
		if out[i] = byName[n]; out[i] == nil {
			return nil, fmt.Errorf("%w: the vault needs factor %q", ErrFactorMismatch, n)
		}
	}
	if len(given) != len(names) {
		return nil, fmt.Errorf("%w: %d factors given, the vault uses %d", ErrFactorMismatch, len(given), len(names))
	}
	return out, nil
}

// deriveKEK computes the key-encryption key for h from the PIN and the
// factors (already in header order):
//
//	P     = Argon2id(pin, labelArgon2Salt || salt, time, memory, threads, 32)
//	in_i  = HKDF-SHA256(P, salt, labelFactorInput || name_i, 32)
//	s_i   = factor_i.Secret(in_i)
//	KEK   = HKDF-SHA256(P || Σ (u8 len name_i || name_i || u16 len s_i || s_i), salt, labelKEK, 32)
func deriveKEK(ctx context.Context, pin []byte, h *header, fs []Factor) (*secret, error) {
	p := pinKey(pin, &h.salt, h.kdf)
	defer clear(p)
	ikm := append(make([]byte, 0, keySize+len(fs)*128), p...)
	defer func() { clear(ikm) }()
	for _, f := range fs {
		in := derive(p, h.salt[:], labelFactorInput+f.Name(), keySize)
		s, err := f.Secret(ctx, in)
		clear(in)
		if err != nil {
			return nil, fmt.Errorf("vault: factor %q: %w", f.Name(), err)
		}
		if len(s) < MinFactorSecretLen || len(s) > MaxFactorSecretLen {
			return nil, fmt.Errorf("vault: factor %q: secret of %d bytes not in %d..%d", f.Name(), len(s), MinFactorSecretLen, MaxFactorSecretLen)
		}
		ikm = append(ikm, byte(len(f.Name())))
		ikm = append(ikm, f.Name()...)
		ikm = append(ikm, byte(len(s)>>8), byte(len(s)))
		ikm = append(ikm, s...)
		clear(s)
	}
	return newSecret(derive(ikm, h.salt[:], labelKEK, keySize)), nil
}

// digest is the header's and the attempt file's corruption check.
func digest(b []byte) [sha256.Size]byte { return sha256.Sum256(b) }
