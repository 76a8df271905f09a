package main

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"parley.dev/internal/addr"
	"parley.dev/internal/private"
	"parley.dev/server"
)

// PEM block types of the token key files.
const (
	pemPrivate = "PRIVATE KEY" // PKCS #8
	pemPublic  = "PUBLIC KEY"  // PKIX
)

// Token key file suffixes after the --out prefix.
const (
	privateSuffix = ".key"
	publicSuffix  = ".pub"
)

// defaultTokenTTL is how long a minted token stays usable.
const defaultTokenTTL = time.Hour

// runTokenKey writes a fresh Ed25519 key pair, both files mode 0600:
// PREFIX.key (secret, for the host app's backend) and PREFIX.pub (for
// --token-key).
func runTokenKey(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("parleyd token-key", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "token", "file name prefix")
	if err := fs.Parse(args); err != nil {
		return flagErr(err)
	}
	if fs.NArg() > 0 {
		return usagef("token-key: unexpected argument %q", fs.Arg(0))
	}
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return err
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return err
	}
	privPath, pubPath := *out+privateSuffix, *out+publicSuffix
	if err := writeNew(privPath, pemPrivate, privDER); err != nil {
		return err
	}
	if err := writeNew(pubPath, pemPublic, pubDER); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "parleyd: wrote %s (secret: keep it on the backend that mints tokens) and %s\n", privPath, pubPath)
	fmt.Fprintf(stdout, "Start the relay with:  parleyd --registration token --token-key %s ...\n", pubPath)
	fmt.Fprintf(stdout, "Mint a token with:     parleyd token --key %s --ttl 1h USER\n", privPath)
	return nil
}

// runToken mints one registration token for USER and prints it.
func runToken(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("parleyd token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keyPath := fs.String("key", "", "private key file from parleyd token-key")
	ttl := fs.Duration("ttl", defaultTokenTTL, "how long the token stays usable")
	if err := fs.Parse(args); err != nil {
		return flagErr(err)
	}
	if *keyPath == "" || fs.NArg() != 1 {
		return usagef("usage: parleyd token --key FILE [--ttl DURATION] USER")
	}
	user, err := addr.ParseUserID(fs.Arg(0))
	if err != nil {
		return usageError{err}
	}
	if *ttl <= 0 {
		return usagef("--ttl must be positive")
	}
	key, err := readPrivateKey(*keyPath)
	if err != nil {
		return err
	}
	tok, err := server.NewRegistrationToken(key, user, time.Now().Add(*ttl))
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

func flagErr(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return usageError{err}
}

// writeNew writes one PEM block to a file that must not exist yet, with
// mode 0600 whatever the umask (the public half too: it is the operator's
// to hand out, not every local user's to read).
func writeNew(path, typ string, der []byte) error {
	return private.CreateNew(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

// readPEM reads the first PEM block of path, which must be of type typ.
func readPEM(path, typ string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != typ {
		return nil, fmt.Errorf("%s: want a PEM %q block", path, typ)
	}
	return block.Bytes, nil
}

func parsePublicKey(der []byte) (ed25519.PublicKey, error) {
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, err
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, errors.New("not an Ed25519 public key")
	}
	return pub, nil
}

func readPrivateKey(path string) (ed25519.PrivateKey, error) {
	der, err := readPEM(path, pemPrivate)
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an Ed25519 private key", path)
	}
	return priv, nil
}
