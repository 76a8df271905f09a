package server_test

import (
	"testing"
	"time"

	"parley.dev/internal/wire"
	"parley.dev/server/servertest"
	"parley.dev/token"
)

// TestMintFromVariable: a host backend mints a token with the user's name
// in a string variable (package token), and the relay accepts it once.
func TestMintFromVariable(t *testing.T) {
	r, key := tokenRelay(t, servertest.NewClock(epoch))
	name := string([]byte("alice")) // not a constant
	tok, err := token.Mint(key, name, epoch.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	d := newDevice(t, r, "alice")
	if resp, err := d.RegisterRaw(tok); err != nil || resp.Code() != wire.CodeOK {
		t.Fatalf("registration with a minted token: %v %v", resp.Code(), err)
	}
	if resp, err := newDevice(t, r, "alice").RegisterRaw(tok); err != nil || resp.Code() != wire.CodeTokenUsed {
		t.Fatalf("second use: %v %v", resp.Code(), err)
	}
}
