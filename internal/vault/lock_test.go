package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// slowFactor makes every guess take a while, as Argon2id at full cost
// does, so that concurrent guesses overlap.
type slowFactor struct{ d time.Duration }

func (slowFactor) Name() string { return "slow" }
func (f slowFactor) Secret(context.Context, []byte) ([]byte, error) {
	time.Sleep(f.d)
	return bytes.Repeat([]byte{7}, 32), nil
}

const guessTime = 30 * time.Millisecond

// outcome names the result of one Open with a wrong PIN.
func outcome(err error) string {
	var wrong *WrongPINError
	switch {
	case errors.As(err, &wrong) && wrong.RetryAt.IsZero():
		return "wrong"
	case errors.As(err, &wrong):
		return "wrong, delayed"
	case errors.Is(err, ErrLocked):
		return "locked"
	}
	return fmt.Sprintf("unexpected: %v", err)
}

// wantSerialized checks the outcomes of 16 concurrent wrong PINs are
// those of 16 in a row: FreeAttempts free, then one that sets the first
// delay, then refusals while locked; and the counter says 6.
func wantSerialized(t *testing.T, dir string, outcomes []string) {
	t.Helper()
	n := map[string]int{}
	for _, o := range outcomes {
		n[o]++
	}
	want := map[string]int{"wrong": FreeAttempts, "wrong, delayed": 1, "locked": len(outcomes) - FreeAttempts - 1}
	if fmt.Sprint(n) != fmt.Sprint(want) {
		t.Errorf("outcomes %v, want %v", n, want)
	}
	if got := readFailures(t, dir); got != FreeAttempts+1 {
		t.Errorf("counter = %d, want %d", got, FreeAttempts+1)
	}
	if _, err := Open(context.Background(), dir, testPIN, Options{Factors: []Factor{slowFactor{}}}); !errors.Is(err, ErrLocked) {
		t.Errorf("the right PIN after them: %v, want ErrLocked", err)
	}
}

// TestConcurrentWrongPINsAreSerialized: 16 wrong PINs at once, each
// taking a while, count as 16 in a row: no two read the counter before
// either writes it, so the delay applies from the 6th and the rest are
// refused.
func TestConcurrentWrongPINsAreSerialized(t *testing.T) {
	v, dir := newVault(t, Options{Factors: []Factor{slowFactor{}}})
	v.Close()
	outcomes := make([]string, 16)
	var wg sync.WaitGroup
	for i := range outcomes {
		wg.Go(func() {
			_, err := Open(context.Background(), dir, otherPIN, Options{Factors: []Factor{slowFactor{guessTime}}})
			outcomes[i] = outcome(err)
		})
	}
	wg.Wait()
	wantSerialized(t, dir, outcomes)
}

// helperEnv makes this test binary one guessing process (see TestMain).
const helperEnv = "PARLEY_VAULT_GUESS_DIR"

// guessOnce is a helper process's work: one wrong PIN, its outcome on
// standard output.
func guessOnce(dir string) {
	UnsafeCheapKDFForTests()
	_, err := Open(context.Background(), dir, otherPIN, Options{Factors: []Factor{slowFactor{guessTime}}})
	fmt.Println(outcome(err))
}

// TestWrongPINsAcrossProcesses: the same with 16 processes, as 16 copies
// of an app (or a script) would guess at once.
func TestWrongPINsAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 16 processes")
	}
	v, dir := newVault(t, Options{Factors: []Factor{slowFactor{}}})
	v.Close()
	cmds := make([]*exec.Cmd, 16)
	outs := make([]bytes.Buffer, len(cmds))
	for i := range cmds {
		cmds[i] = exec.Command(os.Args[0], "-test.run=^$")
		cmds[i].Env = append(os.Environ(), helperEnv+"="+dir)
		cmds[i].Stdout, cmds[i].Stderr = &outs[i], &outs[i]
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	outcomes := make([]string, len(cmds))
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("guessing process: %v: %s", err, outs[i].String())
		}
		outcomes[i] = strings.TrimSpace(outs[i].String())
	}
	wantSerialized(t, dir, outcomes)
	if _, err := os.Stat(filepath.Join(dir, lockFile)); err != nil {
		t.Errorf("lock file: %v", err)
	}
}
