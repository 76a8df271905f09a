package vault

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/crypto/cryptobyte"
)

// The attempt file counts consecutive wrong PINs. It is rewritten
// atomically (and fsynced) before every KDF run, so killing the process in
// the middle of a guess still counts it. Layout (version 1, big-endian):
//
//	offset size
//	0      8    magic "PARLEYVA"
//	8      1    version = 1
//	9      4    consecutive failures
//	13     8    locked until, Unix milliseconds; 0 = not locked
//	21     32   SHA-256 of all bytes above
//
// It cannot be authenticated (no key exists before unlocking), so it only
// stops guessing through the app; see docs/threat-model.md.
const (
	attemptsFile    = "vault.attempts"
	attemptsMagic   = "PARLEYVA"
	attemptsVersion = 1
	attemptsSize    = len(attemptsMagic) + 1 + 4 + 8 + 32 // 53
)

// FreeAttempts is how many consecutive wrong PINs cost no delay. Each
// further one locks the vault for the next step of lockoutSteps (the last
// step repeats).
const FreeAttempts = 5

// lockoutSteps are the delays after wrong PIN number FreeAttempts+1,
// FreeAttempts+2, ...
var lockoutSteps = [...]time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour}

// MaxLockout is the longest delay. A stored lock further in the future than
// this (the clock was moved back) is shortened to it.
const MaxLockout = time.Hour

// lockout returns the delay imposed after the given number of consecutive
// failures.
func lockout(failures uint32) time.Duration {
	if failures <= FreeAttempts {
		return 0
	}
	i := int(failures - FreeAttempts - 1)
	return lockoutSteps[min(i, len(lockoutSteps)-1)]
}

// attempts is the attempt file's content.
type attempts struct {
	failures    uint32
	lockedUntil uint64 // Unix milliseconds; 0 = not locked
}

func (a attempts) until() time.Time {
	if a.lockedUntil == 0 {
		return time.Time{}
	}
	return time.UnixMilli(int64(a.lockedUntil))
}

func (a attempts) marshal() []byte {
	var b cryptobyte.Builder
	b.AddBytes([]byte(attemptsMagic))
	b.AddUint8(attemptsVersion)
	b.AddUint32(a.failures)
	b.AddUint64(a.lockedUntil)
	body := b.BytesOrPanic()
	d := digest(body)
	return append(body, d[:]...)
}

// parseAttempts decodes an attempt file; failures wrap ErrCorrupt.
func parseAttempts(b []byte) (attempts, error) {
	var a attempts
	if len(b) != attemptsSize {
		return a, corrupt("attempt file of %d bytes", len(b))
	}
	body, sum := b[:len(b)-len(digest(nil))], b[len(b)-len(digest(nil)):]
	if d := digest(body); subtle.ConstantTimeCompare(d[:], sum) != 1 {
		return a, corrupt("attempt file digest mismatch")
	}
	s := cryptobyte.String(body)
	var magic []byte
	var version uint8
	if !s.ReadBytes(&magic, len(attemptsMagic)) || string(magic) != attemptsMagic ||
		!s.ReadUint8(&version) || version != attemptsVersion ||
		!s.ReadUint32(&a.failures) || !s.ReadUint64(&a.lockedUntil) || !s.Empty() ||
		a.lockedUntil > math.MaxInt64 {
		return attempts{}, corrupt("not a version %d attempt file", attemptsVersion)
	}
	return a, nil
}

func readAttempts(dir string) (attempts, error) {
	b, err := os.ReadFile(filepath.Join(dir, attemptsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return attempts{}, corrupt("attempt file missing")
	}
	if err != nil {
		return attempts{}, fmt.Errorf("vault: %w", err)
	}
	return parseAttempts(b)
}

func writeAttempts(dir string, a attempts) error {
	return writeFileAtomic(dir, attemptsFile, a.marshal())
}

// guard enforces the attempt counter, delays and wipe for one directory.
type guard struct {
	dir       string
	now       func() time.Time
	wipeAfter int
	log       *slog.Logger
}

// begin refuses a guess while the vault is locked, and otherwise counts
// the guess durably before any KDF work. It returns the state before the
// guess, for fail or restore.
func (g *guard) begin() (attempts, error) {
	a, err := readAttempts(g.dir)
	if err != nil {
		return a, err
	}
	now := g.now()
	if until := a.until(); now.Before(until) {
		if until.Sub(now) > MaxLockout {
			a.lockedUntil = uint64(now.Add(MaxLockout).UnixMilli())
			if err := writeAttempts(g.dir, a); err != nil {
				return a, err
			}
		}
		return a, &LockedError{Until: a.until()}
	}
	next := attempts{failures: a.failures, lockedUntil: a.lockedUntil}
	if next.failures < math.MaxUint32 {
		next.failures++
	}
	return a, writeAttempts(g.dir, next)
}

// restore undoes begin for a guess that was abandoned before it could be
// checked (a factor failed).
func (g *guard) restore(prev attempts) error {
	return writeAttempts(g.dir, prev)
}

// succeed resets the counter and the lock.
func (g *guard) succeed() error {
	return writeAttempts(g.dir, attempts{})
}

// fail records a wrong PIN, sets the next delay and, if allowed and the
// limit is reached, wipes the vault.
func (g *guard) fail(prev attempts, allowWipe bool) error {
	a := attempts{failures: prev.failures}
	if a.failures < math.MaxUint32 {
		a.failures++
	}
	if allowWipe && g.wipeAfter > 0 && int64(a.failures) >= int64(g.wipeAfter) {
		g.log.Warn("vault: wiping after too many wrong PINs", "failures", a.failures)
		if err := wipe(g.dir); err != nil {
			return fmt.Errorf("%w (wiping failed: %v)", ErrWiped, err)
		}
		return ErrWiped
	}
	if d := lockout(a.failures); d > 0 {
		a.lockedUntil = uint64(g.now().Add(d).UnixMilli())
	}
	if err := writeAttempts(g.dir, a); err != nil {
		return err
	}
	g.log.Info("vault: wrong PIN", "failures", a.failures, "locked_until", a.until())
	e := &WrongPINError{Failures: int(a.failures), Remaining: -1, RetryAt: a.until()}
	if g.wipeAfter > 0 {
		e.Remaining = max(0, g.wipeAfter-int(a.failures))
	}
	return e
}

// wipe destroys the wrapped data key, which makes every record unreadable,
// then removes the database. The header is first overwritten in place
// with random bytes and fsynced, then replaced by a "wiped" header so that
// Open reports ErrWiped. Flash storage may keep old blocks; see
// docs/threat-model.md.
func wipe(dir string) error {
	path := filepath.Join(dir, headerFile)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("vault: %w", err)
	}
	st, err := f.Stat()
	if err == nil {
		junk := make([]byte, st.Size())
		randomBytes(junk)
		if _, err = f.WriteAt(junk, 0); err == nil {
			err = f.Sync()
		}
	}
	f.Close()
	if err != nil {
		return fmt.Errorf("vault: overwriting header: %w", err)
	}
	tomb := &header{state: stateWiped}
	if err := writeFileAtomic(dir, headerFile, tomb.marshal()); err != nil {
		return err
	}
	return removeDB(dir)
}
