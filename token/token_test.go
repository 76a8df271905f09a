package token_test

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"testing"
	"time"

	"parley.dev/internal/wire"
	"parley.dev/token"
)

func TestMint(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	user := "alice.smith"
	expires := time.Date(2030, 1, 2, 3, 4, 5, 600, time.UTC)
	text, err := token.Mint(priv, user, expires)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := wire.ParseTokenText(text)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := tok.SignedMessage()
	if string(tok.User) != user || !tok.Expires.Equal(expires.Truncate(time.Second)) || !ed25519.Verify(pub, msg, tok.Signature[:]) {
		t.Fatalf("token %+v does not carry what was minted", tok)
	}
	if again, _ := token.Mint(priv, user, expires); again == text {
		t.Fatal("two tokens for one user are equal (no nonce)")
	}
}

func TestMintRefuses(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(nil)
	for _, user := range []string{"", "Alice", "a/b", string(make([]byte, 65))} {
		if _, err := token.Mint(priv, user, time.Now()); !errors.Is(err, token.ErrInvalidUser) {
			t.Errorf("user %q: %v", user, err)
		}
	}
	if _, err := token.Mint(priv[:10], "alice", time.Now()); !errors.Is(err, token.ErrKey) {
		t.Errorf("short key: %v", err)
	}
}

func TestParsePrivateKey(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(nil)
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	got, err := token.ParsePrivateKey(pem.EncodeToMemory(&pem.Block{Type: token.PEMPrivate, Bytes: der}))
	if err != nil || !got.Equal(priv) {
		t.Fatalf("round trip: %v", err)
	}
	if _, err := token.ParsePrivateKey(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})); err == nil {
		t.Fatal("wrong block type accepted")
	}
}

func FuzzParsePrivateKey(f *testing.F) {
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if k, err := token.ParsePrivateKey(b); err == nil && len(k) != ed25519.PrivateKeySize {
			t.Fatal("accepted a key of the wrong size")
		}
	})
}
