package server_test

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"parley.dev/internal/unlock"
	"parley.dev/internal/wire"
	"parley.dev/server"
	"parley.dev/server/internal/testclient"
	"parley.dev/server/servertest"
)

// The relay PIN factor (server/unlock.go), exercised over real TLS the way
// a locked vault would: the unauthenticated requests carry only what the
// vault's unlock credential signs or the verifier proves.

var (
	rightPIN = []byte("factor input of the right PIN")
	wrongPIN = []byte("factor input of a wrong PIN")
)

// lockedVault is one vault's unlock credential talking to the relay.
type lockedVault struct {
	t    testing.TB
	d    *testclient.Device // its HTTP client and, for enrolment, its device key
	cred *unlock.Credential
}

func (v *lockedVault) id() [32]byte { return v.cred.ID() }

// call posts f to path without a device proof and returns the answer.
func (v *lockedVault) call(path string, f wire.Frame) (wire.Frame, wire.Code) {
	v.t.Helper()
	body, err := wire.Marshal(f)
	if err != nil {
		v.t.Fatal(err)
	}
	r, err := v.d.Raw("POST", path, body, "")
	if err != nil {
		v.t.Fatal(err)
	}
	return r.Frame, r.Code()
}

func (v *lockedVault) challenge() (*wire.UnlockChallenge, wire.Code) {
	v.t.Helper()
	f, code := v.call("/v1/unlock/challenge", &wire.UnlockHello{Credential: v.id()})
	ch, _ := f.(*wire.UnlockChallenge)
	return ch, code
}

// evaluateRequest blinds input under the current challenge.
func (v *lockedVault) evaluateRequest(input []byte) (*wire.UnlockEvaluate, *unlock.Attempt) {
	v.t.Helper()
	ch, code := v.challenge()
	if code != wire.CodeOK {
		v.t.Fatalf("challenge: %v", code)
	}
	a, blinded, err := unlock.Blind(v.id(), input)
	if err != nil {
		v.t.Fatal(err)
	}
	return &wire.UnlockEvaluate{Credential: v.id(), Challenge: ch.Challenge, Blinded: blinded,
		Signature: v.cred.SignEvaluate(ch.Challenge, blinded)}, a
}

// guess asks for one evaluation of input and finishes it.
func (v *lockedVault) guess(input []byte) (*unlock.Output, *wire.UnlockEvaluation, wire.Code) {
	v.t.Helper()
	req, a := v.evaluateRequest(input)
	f, code := v.call("/v1/unlock/evaluate", req)
	if code != wire.CodeOK {
		return nil, nil, code
	}
	ev := f.(*wire.UnlockEvaluation)
	out, err := a.Finish(ev.Evaluated)
	if err != nil {
		v.t.Fatal(err)
	}
	return out, ev, code
}

// confirm proves out under challenge ch.
func (v *lockedVault) confirm(out *unlock.Output, ch [32]byte) wire.Code {
	v.t.Helper()
	_, code := v.call("/v1/unlock/confirm", &wire.UnlockConfirm{Credential: v.id(), Challenge: ch, Proof: out.Proof(ch)})
	return code
}

func (v *lockedVault) left() uint32 {
	v.t.Helper()
	ch, code := v.challenge()
	if code != wire.CodeOK {
		v.t.Fatalf("challenge: %v", code)
	}
	return ch.Left
}

// enrolVault enrols a new credential of device d for input (the right
// PIN) and returns it with the enrolment's output.
func enrolVault(t testing.TB, d *testclient.Device, input []byte) (*lockedVault, *unlock.Output) {
	t.Helper()
	cred, err := unlock.GenerateCredential()
	if err != nil {
		t.Fatal(err)
	}
	v := &lockedVault{t: t, d: d, cred: cred}
	a, blinded, err := unlock.Blind(v.id(), input)
	if err != nil {
		t.Fatal(err)
	}
	f, err := d.Call("POST", "/v1/unlock/enrol", &wire.UnlockEnrol{Credential: v.id(), Blinded: blinded})
	if err != nil {
		t.Fatalf("enrol: %v", err)
	}
	out, err := a.Finish(f.(*wire.UnlockEvaluation).Evaluated)
	if err != nil {
		t.Fatal(err)
	}
	if _, code := v.challenge(); code != wire.CodeUnlockUnknown {
		t.Fatalf("a pending key answers %v, want unlock-unknown", code)
	}
	act := &wire.UnlockActivate{Credential: v.id()}
	copy(act.Verifier[:], out.Verifier())
	if _, err := d.Call("POST", "/v1/unlock/activate", act); err != nil {
		t.Fatalf("activate: %v", err)
	}
	return v, out
}

func wantCode(t testing.TB, what string, got, want wire.Code) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: %v, want %v", what, got, want)
	}
}

func TestUnlockRoundTrip(t *testing.T) {
	r := startRelay(t)
	v, enrolled := enrolVault(t, register(t, r, "alice"), rightPIN)
	if v.left() != unlock.DefaultMaxFailures {
		t.Fatalf("a fresh key allows %d guesses", v.left())
	}
	out, ev, code := v.guess(rightPIN)
	wantCode(t, "guess", code, wire.CodeOK)
	if !bytes.Equal(out.Secret(), enrolled.Secret()) {
		t.Fatal("the right PIN does not give the enrolled secret")
	}
	if ev.Left != unlock.DefaultMaxFailures-1 || ev.Max != unlock.DefaultMaxFailures {
		t.Fatalf("after one guess: %d of %d left", ev.Left, ev.Max)
	}
	wantCode(t, "confirm", v.confirm(out, ev.Challenge), wire.CodeOK)
	if v.left() != unlock.DefaultMaxFailures {
		t.Fatal("a proven success did not reset the counter")
	}
	wrong, _, _ := v.guess(wrongPIN)
	if bytes.Equal(wrong.Secret(), enrolled.Secret()) {
		t.Fatal("a wrong PIN gives the secret")
	}
}

// TestUnlockNineWrongThenRight: nine wrong guesses, then the right one
// proven, and the counter is back to zero.
func TestUnlockNineWrongThenRight(t *testing.T) {
	r := startRelay(t)
	v, _ := enrolVault(t, register(t, r, "alice"), rightPIN)
	for i := range 9 {
		_, ev, code := v.guess(wrongPIN)
		wantCode(t, "wrong guess", code, wire.CodeOK)
		if ev.Left != uint32(unlock.DefaultMaxFailures-1-i) {
			t.Fatalf("after %d wrong: %d left", i+1, ev.Left)
		}
	}
	out, ev, code := v.guess(rightPIN)
	wantCode(t, "tenth guess", code, wire.CodeOK)
	if ev.Left != 0 {
		t.Fatalf("after ten guesses %d left", ev.Left)
	}
	wantCode(t, "confirm", v.confirm(out, ev.Challenge), wire.CodeOK)
	if v.left() != unlock.DefaultMaxFailures {
		t.Fatal("counter not reset")
	}
}

// TestUnlockDestroysAfterN: after N wrong guesses in a row the next
// request destroys the key; the right PIN then only hears "locked", and
// the relay keeps no key.
func TestUnlockDestroysAfterN(t *testing.T) {
	r := startRelay(t, func(s *server.Server) { s.UnlockMaxFailures = 3 })
	v, _ := enrolVault(t, register(t, r, "alice"), rightPIN)
	for range 3 {
		_, _, code := v.guess(wrongPIN)
		wantCode(t, "wrong guess", code, wire.CodeOK)
	}
	_, code := v.challenge()
	wantCode(t, "challenge with no guess left", code, wire.CodeOK)
	req, _ := v.evaluateRequest(rightPIN)
	_, code = v.call("/v1/unlock/evaluate", req)
	wantCode(t, "fourth guess", code, wire.CodeUnlockLocked)
	_, code = v.challenge()
	wantCode(t, "after destruction", code, wire.CodeUnlockLocked)
	r.Restart(t)
	_, code = v.challenge()
	wantCode(t, "after a restart", code, wire.CodeUnlockLocked)
}

// TestUnlockLastGuessGrace: the N-th guess may still be proven right
// within the grace, not after it.
func TestUnlockLastGuessGrace(t *testing.T) {
	clk := servertest.NewClock(epoch)
	r := startRelay(t, withClock(clk), func(s *server.Server) { s.UnlockMaxFailures = 2 })
	d := register(t, r, "alice")
	v, _ := enrolVault(t, d, rightPIN)
	v.guess(wrongPIN)
	out, ev, _ := v.guess(rightPIN)
	clk.Advance(unlock.DefaultGrace - time.Second)
	wantCode(t, "proof within the grace", v.confirm(out, ev.Challenge), wire.CodeOK)

	w, _ := enrolVault(t, d, rightPIN)
	w.guess(wrongPIN)
	out, ev, _ = w.guess(rightPIN)
	clk.Advance(unlock.DefaultGrace + time.Second)
	wantCode(t, "proof after the grace", w.confirm(out, ev.Challenge), wire.CodeUnlockLocked)
}

// TestUnlockCountSurvivesRestart: every answered evaluation was committed
// before it was answered, so a restart keeps the count.
func TestUnlockCountSurvivesRestart(t *testing.T) {
	r := startRelay(t)
	v, _ := enrolVault(t, register(t, r, "alice"), rightPIN)
	for range 4 {
		v.guess(wrongPIN)
	}
	r.Restart(t)
	if left := v.left(); left != unlock.DefaultMaxFailures-4 {
		t.Fatalf("after a restart %d left, want %d", left, unlock.DefaultMaxFailures-4)
	}
}

// TestUnlockReplay: a captured evaluation or confirmation never counts
// twice: its challenge is spent.
func TestUnlockReplay(t *testing.T) {
	r := startRelay(t)
	v, _ := enrolVault(t, register(t, r, "alice"), rightPIN)
	req, _ := v.evaluateRequest(wrongPIN)
	_, code := v.call("/v1/unlock/evaluate", req)
	wantCode(t, "evaluate", code, wire.CodeOK)
	for range 3 {
		_, code = v.call("/v1/unlock/evaluate", req)
		wantCode(t, "replayed evaluation", code, wire.CodeUnlockStale)
	}
	if v.left() != unlock.DefaultMaxFailures-1 {
		t.Fatal("a replayed evaluation was counted")
	}
	out, ev, _ := v.guess(rightPIN)
	wantCode(t, "confirm", v.confirm(out, ev.Challenge), wire.CodeOK)
	v.guess(wrongPIN)
	wantCode(t, "replayed confirmation", v.confirm(out, ev.Challenge), wire.CodeUnlockStale)
	if v.left() != unlock.DefaultMaxFailures-1 {
		t.Fatal("a replayed confirmation reset the counter")
	}
}

// TestUnlockForgeries: requests not signed by the credential, proofs
// without the verifier and invalid elements change nothing.
func TestUnlockForgeries(t *testing.T) {
	r := startRelay(t)
	d := register(t, r, "alice")
	v, _ := enrolVault(t, d, rightPIN)
	other, _ := unlock.GenerateCredential()

	req, _ := v.evaluateRequest(wrongPIN)
	req.Signature = other.SignEvaluate(req.Challenge, req.Blinded)
	_, code := v.call("/v1/unlock/evaluate", req)
	wantCode(t, "evaluation signed by another key", code, wire.CodeUnauthorized)

	req, _ = v.evaluateRequest(wrongPIN)
	req.Blinded = [32]byte{}
	req.Signature = v.cred.SignEvaluate(req.Challenge, req.Blinded)
	_, code = v.call("/v1/unlock/evaluate", req)
	wantCode(t, "identity element", code, wire.CodeMalformed)

	wrong, ev, _ := v.guess(wrongPIN)
	wantCode(t, "proof of a wrong PIN", v.confirm(wrong, ev.Challenge), wire.CodeUnauthorized)
	if v.left() != unlock.DefaultMaxFailures-1 {
		t.Fatalf("forgeries moved the counter: %d left", v.left())
	}
	stranger := &lockedVault{t: t, d: d, cred: other}
	_, code = stranger.challenge()
	wantCode(t, "unknown credential", code, wire.CodeUnlockUnknown)
	resp, err := d.Raw("POST", "/v1/unlock/evaluate", []byte{wire.Version, byte(wire.TypeUnlockEvaluate), 1, 2}, "")
	if err != nil || resp.Code() != wire.CodeMalformed {
		t.Fatalf("garbage: %v %v", resp.Code(), err)
	}
}

// TestUnlockConcurrentGuesses: guesses racing on one credential are each
// counted once; the losers of a race hear "stale" and count nothing.
func TestUnlockConcurrentGuesses(t *testing.T) {
	r := startRelay(t, func(s *server.Server) { s.UnlockCredentialRate = server.Rate{Burst: 1000, Per: time.Minute} })
	v, _ := enrolVault(t, register(t, r, "alice"), rightPIN)
	var mu sync.Mutex
	answered := 0
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				_, _, code := v.guess(wrongPIN)
				if code == wire.CodeOK {
					mu.Lock()
					answered++
					mu.Unlock()
					return
				}
				if code != wire.CodeUnlockStale {
					t.Errorf("guess: %v", code)
					return
				}
			}
		})
	}
	wg.Wait()
	// Connections the client dialed for the race but never used would hold
	// the relay's shutdown for 5 s (net/http's grace for new connections).
	defer v.d.HTTP.CloseIdleConnections()
	if left := v.left(); int(left) != unlock.DefaultMaxFailures-answered || answered != 8 {
		t.Fatalf("%d answered, %d left of %d", answered, left, unlock.DefaultMaxFailures)
	}
}

// TestUnlockGoesWithTheDevice: revoking a device deletes its vault's relay
// key, so a stolen phone's vault can never be opened once revoked.
func TestUnlockGoesWithTheDevice(t *testing.T) {
	r := startRelay(t)
	alice := register(t, r, "alice")
	phone := sibling(t, r, alice)
	v, _ := enrolVault(t, phone, rightPIN)
	if _, err := alice.Call("DELETE", "/v1/users/alice/devices/2", nil); err != nil {
		t.Fatal(err)
	}
	_, code := v.challenge()
	wantCode(t, "after revocation", code, wire.CodeUnlockUnknown)
}

func TestUnlockEnrolment(t *testing.T) {
	r := startRelay(t)
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	cred, _ := unlock.GenerateCredential()
	_, blinded, _ := unlock.Blind(cred.ID(), rightPIN)
	body, _ := wire.Marshal(&wire.UnlockEnrol{Credential: cred.ID(), Blinded: blinded})
	resp, err := alice.Raw("POST", "/v1/unlock/enrol", body, "")
	if err != nil || resp.Code() != wire.CodeUnauthorized {
		t.Fatalf("enrol without a device proof: %v %v", resp.Code(), err)
	}
	smallOrder := [32]byte{1}
	_, err = alice.Call("POST", "/v1/unlock/enrol", &wire.UnlockEnrol{Credential: smallOrder, Blinded: blinded})
	wantCode(t, "small-order credential", codeOf(err), wire.CodeBadKey)

	v, _ := enrolVault(t, alice, rightPIN)
	act := &wire.UnlockActivate{Credential: v.id(), Verifier: [32]byte{9}}
	_, err = bob.Call("POST", "/v1/unlock/activate", act)
	wantCode(t, "activation by another device", codeOf(err), wire.CodeUnlockUnknown)
	_, err = alice.Call("POST", "/v1/unlock/activate", act)
	wantCode(t, "second activation", codeOf(err), wire.CodeUnlockUnknown)

	w, _ := enrolVault(t, alice, rightPIN)
	keep := w.id()
	if _, err := bob.Call("POST", "/v1/unlock/retire", &wire.UnlockRetire{}); err != nil {
		t.Fatal(err)
	}
	if w.left() != unlock.DefaultMaxFailures {
		t.Fatal("another device's retirement touched alice's key")
	}
	if _, err := alice.Call("POST", "/v1/unlock/retire", &wire.UnlockRetire{Keep: &keep}); err != nil {
		t.Fatal(err)
	}
	_, code := v.challenge()
	wantCode(t, "retired key", code, wire.CodeUnlockUnknown)
	w.left()
	for range 3 {
		enrolVault(t, alice, rightPIN)
	}
	_, err = alice.Call("POST", "/v1/unlock/enrol", &wire.UnlockEnrol{Credential: cred.ID(), Blinded: blinded})
	wantCode(t, "a fifth key", codeOf(err), wire.CodeLimit)
}

func TestUnlockRateLimits(t *testing.T) {
	r := startRelay(t, func(s *server.Server) {
		s.UnlockRate = server.Rate{Burst: 1000, Per: time.Hour}
		s.UnlockCredentialRate = server.Rate{Burst: 4, Per: time.Hour}
	})
	d := register(t, r, "alice")
	v, _ := enrolVault(t, d, rightPIN)
	w, _ := enrolVault(t, register(t, r, "bob"), rightPIN)
	for range 4 {
		if _, code := v.challenge(); code != wire.CodeOK {
			t.Fatal(code)
		}
	}
	_, code := v.challenge()
	wantCode(t, "fifth request of one credential", code, wire.CodeRateLimited)
	_, code = w.challenge()
	wantCode(t, "another credential", code, wire.CodeOK)
	stranger, _ := unlock.GenerateCredential()
	s := &lockedVault{t: t, d: d, cred: stranger}
	for range 10 {
		_, code = s.challenge()
		wantCode(t, "unknown credentials do not use a credential's budget", code, wire.CodeUnlockUnknown)
	}

	r2 := startRelay(t, func(s *server.Server) { s.UnlockRate = server.Rate{Burst: 3, Per: time.Hour} })
	v2, _ := enrolVault(t, register(t, r2, "carol"), rightPIN)
	for range 3 {
		v2.challenge()
	}
	_, code = v2.challenge()
	wantCode(t, "fourth request of one network", code, wire.CodeRateLimited)
}
