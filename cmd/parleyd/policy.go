package main

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"parley.dev/internal/policy"
	"parley.dev/internal/private"
	"parley.dev/server"
)

// runPolicyKey writes a fresh Ed25519 policy key pair, both files mode
// 0600: PREFIX.key (secret: keep it off the relay, with whoever signs
// policies) and PREFIX.pub (embedded in the app: client.Client.PolicyKey).
func runPolicyKey(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("parleyd policy-key", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "policy", "file name prefix")
	if err := fs.Parse(args); err != nil {
		return flagErr(err)
	}
	if fs.NArg() > 0 {
		return usagef("policy-key: unexpected argument %q", fs.Arg(0))
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
	fmt.Fprintf(stdout, "parleyd: wrote %s (secret: keep it away from the relay) and %s (embed it in the app)\n", privPath, pubPath)
	fmt.Fprintf(stdout, "Sign a policy with:    parleyd policy sign --key %s --in policy.json --out policy.signed\n", privPath)
	fmt.Fprintf(stdout, "Publish it with:       parleyd policy publish --data DIR --in policy.signed\n")
	return nil
}

// runPolicy is "parleyd policy sign|publish|show".
func runPolicy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("usage: parleyd policy sign|publish|show ...")
	}
	switch args[0] {
	case "sign":
		return runPolicySign(args[1:], stdout, stderr)
	case "publish":
		return runPolicyPublish(ctx, args[1:], stdout)
	case "show":
		return runPolicyShow(args[1:], stdout, stderr)
	}
	return usagef("policy: unknown command %q (want sign, publish or show)", args[0])
}

// runPolicySign signs the JSON form of a policy (policy.File).
func runPolicySign(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("parleyd policy sign", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keyPath := fs.String("key", "", "private key file from parleyd policy-key")
	in := fs.String("in", "", "the policy, JSON")
	out := fs.String("out", "", "the signed policy to write (must not exist)")
	if err := fs.Parse(args); err != nil {
		return flagErr(err)
	}
	if *keyPath == "" || *in == "" || *out == "" || fs.NArg() > 0 {
		return usagef("usage: parleyd policy sign --key FILE --in policy.json --out policy.signed")
	}
	key, err := readPrivateKey(*keyPath)
	if err != nil {
		return err
	}
	src, err := os.ReadFile(*in)
	if err != nil {
		return err
	}
	p, err := policy.ParseFile(src, time.Now())
	if err != nil {
		return fmt.Errorf("%s: %w", *in, err)
	}
	doc, err := policy.Sign(p, key)
	if err != nil {
		return err
	}
	if err := private.CreateNew(*out, doc); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "parleyd: signed policy version %d into %s\n", p.Version, *out)
	return nil
}

// runPolicyPublish stores a signed policy in the relay's database.
func runPolicyPublish(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("parleyd policy publish", flag.ContinueOnError)
	data := fs.String("data", "parleyd-data", "")
	dsn := fs.String("store", "", "")
	in := fs.String("in", "", "")
	if err := parseWithEnv(fs, args); err != nil {
		return usageError{err}
	}
	if *in == "" || fs.NArg() > 0 {
		return usagef("usage: parleyd policy publish [--data DIR | --store DSN] --in policy.signed")
	}
	doc, err := os.ReadFile(*in)
	if err != nil {
		return err
	}
	s := &server.Server{DataDir: *data, StoreDSN: *dsn}
	if strings.HasPrefix(*dsn, "postgres://") || strings.HasPrefix(*dsn, "postgresql://") {
		s.DataDir = ""
	}
	v, err := s.PublishPolicy(ctx, doc)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "parleyd: published policy version %d\n", v)
	return nil
}

// runPolicyShow prints a signed policy, verified when --pub is given.
func runPolicyShow(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("parleyd policy show", flag.ContinueOnError)
	fs.SetOutput(stderr)
	pubPath := fs.String("pub", "", "public key file to verify the signature with")
	if err := fs.Parse(args); err != nil {
		return flagErr(err)
	}
	if fs.NArg() != 1 {
		return usagef("usage: parleyd policy show [--pub FILE] policy.signed")
	}
	doc, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	var p *policy.Policy
	verified := "not verified"
	if *pubPath != "" {
		der, err := readPEM(*pubPath, pemPublic)
		if err != nil {
			return err
		}
		pub, err := parsePublicKey(der)
		if err != nil {
			return fmt.Errorf("%s: %w", *pubPath, err)
		}
		if p, err = policy.Verify(doc, pub); err != nil {
			return err
		}
		verified = "signature verified"
	} else {
		s, err := policy.Parse(doc)
		if err != nil {
			return err
		}
		p = s.Policy
	}
	fmt.Fprintf(stdout, "policy version %d, issued %s (%s)\n", p.Version, p.Issued.UTC().Format(time.RFC3339), verified)
	fmt.Fprintf(stdout, "  PIN: at least %d digits or %d characters; required factors: %v\n", p.MinPINDigits, p.MinPassphrase, p.RequiredFactors)
	fmt.Fprintf(stdout, "  retention: %d days (0: kept); timer: default %v, max %v (0: none)\n", p.RetentionDays, p.DefaultTimer, p.MaxTimer)
	fmt.Fprintf(stdout, "  attachments: %v (max %d bytes); devices: max %d, linking %v\n", p.Attachments, p.MaxAttachment, p.MaxDevices, p.Linking)
	fmt.Fprintf(stdout, "  screenshots: %v; backups: %v\n", p.ScreenshotsAllow, p.BackupsAllow)
	return nil
}
