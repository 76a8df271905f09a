package client_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"parley.dev/client"
	"parley.dev/internal/store"
	"parley.dev/internal/unlock"
	"parley.dev/internal/wire"
	"parley.dev/server"
	"parley.dev/server/servertest"
)

// TestSetFactorsAtomic kills a factor change at each of its steps and
// restarts the app: the vault then opens under either the old or the new
// factors (never neither), with its data, and the next unlock retires the
// credential the header does not use, at the relay and in the file.
func TestSetFactorsAtomic(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := startRelay(t)
	ks, err := client.OpenSoftwareKeystore(filepath.Join(t.TempDir(), "keystore.key"))
	if err != nil {
		t.Fatal(err)
	}
	keystore := client.KeystoreFactor("", ks)
	newPIN := []byte("a longer passphrase")
	register(t, r, "bob")
	steps := []string{"credential-added", "enrolled", "rekeyed", "retired"}
	for i, step := range steps {
		for _, change := range []string{"add-keystore", "change-pin"} {
			t.Run(step+"/"+change, func(t *testing.T) {
				user := "user" + string(rune('a'+i)) + change[:1]
				c := withRelayFactor(t, r, user)
				send(t, c, "bob", "kept across the crash")
				old := client.UnlockCredentials(t, c.Home)
				client.CrashAt(c, step)
				if change == "add-keystore" {
					err = c.SetFactors(ctx, testPIN, client.FactorOptions{Relay: true, Factors: []client.Factor{keystore}})
				} else {
					err = c.ChangePIN(ctx, testPIN, newPIN)
				}
				if !client.IsTestCrash(err) {
					t.Fatalf("crash at %s: %v", step, err)
				}
				crashed := client.UnlockCredentials(t, c.Home)
				home := c.Home
				c.Close()

				// Old factors first, as the app would after a crash;
				// then the new ones. Exactly one opens.
				opened, err1 := unlockAs(home, testPIN)
				if err1 != nil {
					if change == "add-keystore" {
						opened, err = unlockAs(home, testPIN, keystore)
					} else {
						opened, err = unlockAs(home, newPIN)
					}
					if err != nil {
						t.Fatalf("neither wrapping opens: old %v; new %v", err1, err)
					}
				}
				defer opened.Close()
				if wantNew := step == "rekeyed" || step == "retired"; (err1 != nil) != wantNew {
					t.Fatalf("after a crash at %s the %s wrapping opened", step, map[bool]string{true: "new", false: "old"}[err1 != nil])
				}
				if got := historyTexts(t, opened, "bob"); !slices.Contains(got, "kept across the crash") {
					t.Fatalf("history after the crash: %q", got)
				}
				now := client.UnlockCredentials(t, home)
				if len(now) != 1 {
					t.Fatalf("%d credentials in the file after recovery", len(now))
				}
				for _, id := range append(old, crashed...) {
					err := client.ProbeCredential(ctx, opened, id)
					if id == now[0] && err != nil {
						t.Fatalf("the credential in use is refused: %v", err)
					}
					if id != now[0] && !errors.Is(err, wire.CodeUnlockUnknown) {
						t.Fatalf("a stale credential is still at the relay: %v", err)
					}
				}
				if left, err := opened.RelayAttemptsLeft(ctx); err != nil || left != unlock.DefaultMaxFailures {
					t.Fatalf("after recovery %d guesses left, %v", left, err)
				}
			})
		}
	}
}

// TestRelayLostVerifier: if the relay keeps the OPRF key but loses (or
// corrupts) the verifier, a right PIN still opens the vault, the relay
// refuses its proof, and the client enrols afresh so that the counter
// works again.
func TestRelayLostVerifier(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := startRelay(t)
	alice := withRelayFactor(t, r, "alice")
	before := client.UnlockCredentials(t, alice.Home)[0]
	home := alice.Home
	alice.Close()
	corruptVerifier(t, r, before)

	c := mustUnlock(t, home, testPIN)
	after := client.UnlockCredentials(t, home)
	if len(after) != 1 || after[0] == before {
		t.Fatal("the client did not enrol again")
	}
	if err := client.ProbeCredential(ctx, c, before); !errors.Is(err, wire.CodeUnlockUnknown) {
		t.Fatalf("old credential: %v", err)
	}
	c.Close()
	mustUnlock(t, home, testPIN)
}

// TestKeystoreFactor: a vault locked by a keystore opens only with that
// keystore: not without it, not with another device's.
func TestKeystoreFactor(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "ks", "key")
	ks, err := client.OpenSoftwareKeystore(path)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", st, err)
	}
	again, err := client.OpenSoftwareKeystore(path)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := ks.Secret([]byte("x"))
	b, _ := again.Secret([]byte("x"))
	if string(a) != string(b) || len(a) != 32 {
		t.Fatal("the key file does not give the same keystore back")
	}
	home := filepath.Join(dir, "home")
	c := &client.Client{Home: home, Factors: []client.Factor{client.KeystoreFactor("", ks)}}
	if err := c.Create(context.Background(), testPIN); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := unlockAs(home, testPIN); err == nil {
		t.Fatal("opened without the keystore")
	}
	thief, _ := client.OpenSoftwareKeystore(filepath.Join(dir, "thief"))
	pinError(t, func() error { _, err := unlockAs(home, testPIN, client.KeystoreFactor("", thief)); return err }())
	mustUnlock(t, home, testPIN, client.KeystoreFactor("", ks))

	bad := &client.Client{Home: filepath.Join(dir, "h2"), Factors: []client.Factor{client.KeystoreFactor("relay:mine", ks)}}
	if err := bad.Create(context.Background(), testPIN); !errors.Is(err, client.ErrInvalid) {
		t.Fatalf("a keystore named relay:...: %v", err)
	}
	os.WriteFile(path, []byte("short"), 0o600)
	if _, err := client.OpenSoftwareKeystore(path); err == nil {
		t.Fatal("a damaged key file was accepted")
	}
}

// The callback shape gomobile needs: []byte in, []byte and error out.
var _ interface{ Secret([]byte) ([]byte, error) } = client.Keystore(nil)

// corruptVerifier replaces the verifier the relay keeps for cred (keeping
// its OPRF key), as a damaged or partly restored relay database would.
func corruptVerifier(t *testing.T, r *servertest.Relay, cred [32]byte) {
	t.Helper()
	ctx := context.Background()
	r.Stop(t)
	st, err := store.Open(ctx, filepath.Join(r.Dir, server.DatabaseFile), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	k, err := st.UnlockKey(ctx, cred)
	if err == nil {
		_, err = st.RetireUnlocks(ctx, k.Device, nil)
	}
	if err == nil {
		err = st.EnrolUnlock(ctx, store.UnlockKey{Credential: cred, Device: k.Device, OPRFKey: k.OPRFKey})
	}
	if err == nil {
		err = st.ActivateUnlock(ctx, k.Device, cred, make([]byte, store.UnlockValueLen))
	}
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	r.Restart(t)
}
