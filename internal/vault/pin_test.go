package vault

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestWrongPIN(t *testing.T) {
	v, dir := newVault(t, Options{})
	mustPut(t, v, "ns", "k", "intact")
	v.Close()
	hdrBefore := readFile(t, filepath.Join(dir, headerFile))
	dbBefore := readFile(t, filepath.Join(dir, dbFile))

	for i := 1; i <= 3; i++ {
		_, err := Open(context.Background(), dir, otherPIN, Options{})
		var wrong *WrongPINError
		if !errors.As(err, &wrong) || !errors.Is(err, ErrWrongPIN) {
			t.Fatalf("Open with a wrong PIN: %v", err)
		}
		if wrong.Failures != i || wrong.Remaining != -1 || !wrong.RetryAt.IsZero() {
			t.Fatalf("attempt %d: %+v", i, wrong)
		}
		if got := readFailures(t, dir); got != uint32(i) {
			t.Fatalf("persisted failures = %d, want %d", got, i)
		}
	}
	if !bytes.Equal(readFile(t, filepath.Join(dir, headerFile)), hdrBefore) ||
		!bytes.Equal(readFile(t, filepath.Join(dir, dbFile)), dbBefore) {
		t.Fatal("a wrong PIN changed the header or the database")
	}
	v = mustOpen(t, dir, testPIN, Options{})
	mustGet(t, v, "ns", "k", "intact")
	if got := readFailures(t, dir); got != 0 {
		t.Fatalf("failures after a right PIN = %d, want 0", got)
	}
}

// counterProbe is a factor that reads the attempt file while the unlock is
// in progress: after Argon2id, before the result is known.
type counterProbe struct {
	dir  string
	seen []uint32
}

func (p *counterProbe) Name() string { return "probe" }
func (p *counterProbe) Secret(_ context.Context, _ []byte) ([]byte, error) {
	if a, err := readAttempts(p.dir); err == nil { // none yet during Create
		p.seen = append(p.seen, a.failures)
	}
	return bytes.Repeat([]byte{1}, 32), nil
}

func TestCounterIsDurableBeforeTheKDFFinishes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "v")
	probe := &counterProbe{dir: dir}
	v, err := Create(context.Background(), dir, testPIN, Options{Factors: []Factor{probe}})
	if err != nil {
		t.Fatal(err)
	}
	v.Close()
	probe.seen = nil
	Open(context.Background(), dir, otherPIN, Options{Factors: []Factor{probe}})
	Open(context.Background(), dir, otherPIN, Options{Factors: []Factor{probe}})
	v = mustOpen(t, dir, testPIN, Options{Factors: []Factor{probe}})
	// Killing the process inside any of these guesses would have left the
	// guess counted.
	if want := []uint32{1, 2, 3}; !equalU32(probe.seen, want) {
		t.Fatalf("counter seen during guesses = %v, want %v", probe.seen, want)
	}
	if got := readFailures(t, dir); got != 0 {
		t.Fatalf("failures after success = %d", got)
	}
}

func equalU32(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestEscalatingLockout(t *testing.T) {
	clock := newFakeClock()
	opt := Options{Now: clock.Now}
	v, dir := newVault(t, opt)
	mustPut(t, v, "ns", "k", "intact")
	v.Close()

	for i := 1; i <= FreeAttempts; i++ {
		var wrong *WrongPINError
		if _, err := Open(context.Background(), dir, otherPIN, opt); !errors.As(err, &wrong) || !wrong.RetryAt.IsZero() {
			t.Fatalf("free attempt %d: %v", i, err)
		}
	}
	var prev time.Duration
	for i, want := range []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour, time.Hour} {
		_, err := Open(context.Background(), dir, otherPIN, opt)
		var wrong *WrongPINError
		if !errors.As(err, &wrong) {
			t.Fatalf("failure %d: %v", FreeAttempts+1+i, err)
		}
		if got := wrong.RetryAt.Sub(clock.Now()); got != want || got < prev {
			t.Fatalf("failure %d: delay %v, want %v", FreeAttempts+1+i, got, want)
		}
		prev = want
		// While locked even the right PIN is not tried.
		_, err = Open(context.Background(), dir, testPIN, opt)
		var locked *LockedError
		if !errors.As(err, &locked) || !errors.Is(err, ErrLocked) || !locked.Until.Equal(wrong.RetryAt) {
			t.Fatalf("Open while locked: %v", err)
		}
		if got := readFailures(t, dir); got != uint32(FreeAttempts+1+i) {
			t.Fatalf("a locked attempt was counted: failures %d", got)
		}
		clock.Advance(want - time.Second)
		if _, err := Open(context.Background(), dir, testPIN, opt); !errors.Is(err, ErrLocked) {
			t.Fatalf("one second early: %v", err)
		}
		clock.Advance(time.Second)
	}
	v = mustOpen(t, dir, testPIN, opt)
	mustGet(t, v, "ns", "k", "intact")
	if got := readFailures(t, dir); got != 0 {
		t.Fatalf("failures after success = %d", got)
	}
}

func TestLockoutSurvivesClockMovedBack(t *testing.T) {
	clock := newFakeClock()
	opt := Options{Now: clock.Now}
	v, dir := newVault(t, opt)
	v.Close()
	for range FreeAttempts + 1 {
		Open(context.Background(), dir, otherPIN, opt)
	}
	clock.Advance(-365 * 24 * time.Hour) // the clock jumps a year back
	_, err := Open(context.Background(), dir, testPIN, opt)
	var locked *LockedError
	if !errors.As(err, &locked) || locked.Until.Sub(clock.Now()) != MaxLockout {
		t.Fatalf("Open after the clock moved back: %v", err)
	}
	clock.Advance(MaxLockout)
	mustOpen(t, dir, testPIN, opt)
}

func TestWipeAfterN(t *testing.T) {
	clock := newFakeClock()
	opt := Options{WipeAfter: 3, Now: clock.Now}
	v, dir := newVault(t, opt)
	mustPut(t, v, "ns", "k", "secret")
	v.Close()
	for i, remaining := range []int{2, 1} {
		_, err := Open(context.Background(), dir, otherPIN, opt)
		var wrong *WrongPINError
		if !errors.As(err, &wrong) || wrong.Remaining != remaining {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
	}
	oldHeader := readFile(t, filepath.Join(dir, headerFile))
	_, err := Open(context.Background(), dir, otherPIN, opt)
	wantErr(t, err, ErrWiped)
	_, err = Open(context.Background(), dir, testPIN, opt)
	wantErr(t, err, ErrWiped)
	if !Exists(dir) {
		t.Fatal("a wiped vault should still exist (to report ErrWiped)")
	}
	hdr := readFile(t, filepath.Join(dir, headerFile))
	if old, _ := parseHeader(oldHeader); bytes.Contains(hdr, old.wrapped) || bytes.Contains(hdr, old.salt[:]) {
		t.Fatal("the wrapped key survived the wipe")
	}
	if _, err := os.Stat(filepath.Join(dir, dbFile)); !os.IsNotExist(err) {
		t.Fatalf("database survived the wipe: %v", err)
	}
	// The user can start over.
	v, err = Create(context.Background(), dir, testPIN, opt)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	_, err = v.Get("ns", "k")
	wantErr(t, err, ErrNotFound)
}

func TestChangePIN(t *testing.T) {
	v, dir := newVault(t, Options{})
	mustPut(t, v, "ns", "k", "intact")
	dataKey := bytes.Clone(v.dataKey.bytes())
	rows := rawRows(t, v)

	newPIN := []byte("135790")
	if err := v.ChangePIN(context.Background(), testPIN, newPIN); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rawRows(t, v), rows) {
		t.Fatal("ChangePIN rewrote records")
	}
	mustPut(t, v, "ns", "k2", "after the change")
	v.Close()

	_, err := Open(context.Background(), dir, testPIN, Options{})
	wantErr(t, err, ErrWrongPIN)
	v = mustOpen(t, dir, newPIN, Options{})
	if !bytes.Equal(v.dataKey.bytes(), dataKey) {
		t.Fatal("ChangePIN changed the data key")
	}
	mustGet(t, v, "ns", "k", "intact")
	mustGet(t, v, "ns", "k2", "after the change")
}

func TestChangePINWrongOldPIN(t *testing.T) {
	v, dir := newVault(t, Options{WipeAfter: 1})
	before := readFile(t, filepath.Join(dir, headerFile))
	err := v.ChangePIN(context.Background(), otherPIN, []byte("111111"))
	var wrong *WrongPINError
	if !errors.As(err, &wrong) || wrong.Failures != 1 {
		t.Fatalf("ChangePIN with a wrong old PIN: %v", err)
	}
	if !bytes.Equal(readFile(t, filepath.Join(dir, headerFile)), before) {
		t.Fatal("a failed ChangePIN changed the header (or wiped it)")
	}
	if err := v.ChangePIN(context.Background(), testPIN, []byte("111111")); err != nil {
		t.Fatal(err)
	}
	if got := readFailures(t, dir); got != 0 {
		t.Fatalf("failures after a good ChangePIN = %d", got)
	}
}

func TestChangePINUpgradesKDF(t *testing.T) {
	v, dir := newVault(t, Options{})
	v.opt.KDF = KDFParams{Memory: 128, Time: 2, Threads: 2}
	if err := v.ChangePIN(context.Background(), testPIN, testPIN); err != nil {
		t.Fatal(err)
	}
	h, err := readHeader(dir)
	if err != nil || h.kdf != v.opt.KDF {
		t.Fatalf("header KDF = %+v, %v; want %+v", h.kdf, err, v.opt.KDF)
	}
}

// keystore is a Factor like a platform keystore: an HMAC of the input
// under a key that never leaves it.
type keystore struct {
	name string
	key  []byte
	err  error
	in   [][]byte
}

func (k *keystore) Name() string { return k.name }
func (k *keystore) Secret(_ context.Context, input []byte) ([]byte, error) {
	k.in = append(k.in, bytes.Clone(input))
	if k.err != nil {
		return nil, k.err
	}
	m := hmac.New(sha256.New, k.key)
	m.Write(input)
	return m.Sum(nil), nil
}

func TestFactorRequired(t *testing.T) {
	ks := &keystore{name: "android-keystore", key: []byte("device-bound-key")}
	v, dir := newVault(t, Options{Factors: []Factor{ks}})
	mustPut(t, v, "ns", "k", "intact")
	v.Close()

	_, err := Open(context.Background(), dir, testPIN, Options{})
	wantErr(t, err, ErrFactorMismatch)
	other := &keystore{name: "ios-keychain", key: ks.key}
	_, err = Open(context.Background(), dir, testPIN, Options{Factors: []Factor{other}})
	wantErr(t, err, ErrFactorMismatch)
	_, err = Open(context.Background(), dir, testPIN, Options{Factors: []Factor{ks, other}})
	wantErr(t, err, ErrFactorMismatch)
	if got := readFailures(t, dir); got != 0 {
		t.Fatalf("a missing factor counted as a guess: %d", got)
	}

	// The right PIN on another device (another keystore key) fails.
	stolen := &keystore{name: ks.name, key: []byte("thief's keystore")}
	_, err = Open(context.Background(), dir, testPIN, Options{Factors: []Factor{stolen}})
	wantErr(t, err, ErrWrongPIN)

	// A factor that fails does not count as a guess.
	broken := &keystore{name: ks.name, err: errors.New("keystore unavailable")}
	_, err = Open(context.Background(), dir, testPIN, Options{Factors: []Factor{broken}})
	wantErr(t, err, broken.err)
	if got := readFailures(t, dir); got != 1 {
		t.Fatalf("failures = %d, want 1 (the stolen key only)", got)
	}

	v = mustOpen(t, dir, testPIN, Options{Factors: []Factor{ks}})
	mustGet(t, v, "ns", "k", "intact")
}

func TestFactorInputDependsOnPIN(t *testing.T) {
	ks := &keystore{name: "ks", key: []byte("k")}
	v, dir := newVault(t, Options{Factors: []Factor{ks}})
	v.Close()
	Open(context.Background(), dir, otherPIN, Options{Factors: []Factor{ks}})
	mustOpen(t, dir, testPIN, Options{Factors: []Factor{ks}})
	if len(ks.in) != 3 {
		t.Fatalf("factor called %d times, want 3", len(ks.in))
	}
	if !bytes.Equal(ks.in[0], ks.in[2]) || bytes.Equal(ks.in[0], ks.in[1]) {
		t.Fatal("factor input does not depend (only) on the PIN")
	}
	if bytes.Contains(ks.in[0], testPIN) {
		t.Fatal("factor input contains the PIN")
	}
}

func TestFactorSecretLength(t *testing.T) {
	short := &fixedFactor{name: "short", secret: make([]byte, MinFactorSecretLen-1)}
	_, err := Create(context.Background(), filepath.Join(t.TempDir(), "v"), testPIN, Options{Factors: []Factor{short}})
	if err == nil {
		t.Fatal("a factor secret shorter than MinFactorSecretLen was accepted")
	}
	dup := []Factor{&fixedFactor{name: "a"}, &fixedFactor{name: "a"}}
	_, err = Create(context.Background(), filepath.Join(t.TempDir(), "v"), testPIN, Options{Factors: dup})
	wantErr(t, err, ErrInvalid)
	bad := []Factor{&fixedFactor{name: "has space"}}
	_, err = Create(context.Background(), filepath.Join(t.TempDir(), "v"), testPIN, Options{Factors: bad})
	wantErr(t, err, ErrInvalid)
}

type fixedFactor struct {
	name   string
	secret []byte
}

func (f *fixedFactor) Name() string { return f.name }
func (f *fixedFactor) Secret(context.Context, []byte) ([]byte, error) {
	return bytes.Clone(f.secret), nil
}

func TestSetFactors(t *testing.T) {
	v, dir := newVault(t, Options{})
	mustPut(t, v, "ns", "k", "intact")
	ks := &keystore{name: "keystore", key: []byte("hw")}
	wantErr(t, v.SetFactors(context.Background(), otherPIN, []Factor{ks}), ErrWrongPIN)
	if err := v.SetFactors(context.Background(), testPIN, []Factor{ks}); err != nil {
		t.Fatal(err)
	}
	// ChangePIN keeps the new factor.
	if err := v.ChangePIN(context.Background(), testPIN, otherPIN); err != nil {
		t.Fatal(err)
	}
	v.Close()
	_, err := Open(context.Background(), dir, otherPIN, Options{})
	wantErr(t, err, ErrFactorMismatch)
	v = mustOpen(t, dir, otherPIN, Options{Factors: []Factor{ks}})
	mustGet(t, v, "ns", "k", "intact")
	if err := v.SetFactors(context.Background(), otherPIN, nil); err != nil {
		t.Fatal(err)
	}
	v.Close()
	mustOpen(t, dir, otherPIN, Options{})
}
