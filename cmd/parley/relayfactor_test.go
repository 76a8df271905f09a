package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"

	"github.com/rogpeppe/go-internal/testscript"

	"parley.dev/internal/unlock"
	"parley.dev/internal/vault"
	"parley.dev/internal/wire"
)

// openVault opens the vault in home with the script's PIN, as nosecrets
// needs: through the relay's PIN factor if the vault has one. The relay
// counts the guess and, once the vault is open, the proof resets it.
func openVault(ts *testscript.TestScript, home string) *vault.Vault {
	pin := []byte(ts.Getenv("PARLEY_PIN"))
	names, err := vault.FactorNames(home)
	ts.Check(err)
	var f *scriptRelayFactor
	for _, n := range names {
		if id, ok := unlock.ParseFactorName(n); ok {
			f = newScriptRelayFactor(ts, home, id)
		}
	}
	if f == nil {
		v, err := vault.Open(context.Background(), home, pin, vault.Options{})
		ts.Check(err)
		return v
	}
	v, err := vault.Open(context.Background(), home, pin, vault.Options{Factors: []vault.Factor{f}})
	ts.Check(err)
	ts.Check(f.confirm())
	return v
}

// scriptRelayFactor is a minimal relay factor for the test harness: one
// evaluation per Secret, over the script relay's HTTPS client.
type scriptRelayFactor struct {
	ts   *testscript.TestScript
	hc   *http.Client
	url  string
	cred *unlock.Credential
	out  *unlock.Output
	next [32]byte
}

func newScriptRelayFactor(ts *testscript.TestScript, home string, id unlock.CredentialID) *scriptRelayFactor {
	b, err := os.ReadFile(filepath.Join(home, unlock.FileName))
	ts.Check(err)
	file, err := unlock.ParseFile(b)
	ts.Check(err)
	e := file.Find(id)
	if e == nil {
		ts.Fatalf("%s lacks the credential the vault names", unlock.FileName)
	}
	h := harnessOf(ts)
	return &scriptRelayFactor{ts: ts, hc: h.relay.Client(), url: h.relay.URL, cred: e.Credential}
}

func (f *scriptRelayFactor) Name() string { return f.cred.ID().FactorName() }

func (f *scriptRelayFactor) Secret(_ context.Context, input []byte) ([]byte, error) {
	id := f.cred.ID()
	ch, err := post[*wire.UnlockChallenge](f, wire.PathUnlockChallenge, &wire.UnlockHello{Credential: id})
	if err != nil {
		return nil, err
	}
	a, blinded, err := unlock.Blind(id, input)
	if err != nil {
		return nil, err
	}
	ev, err := post[*wire.UnlockEvaluation](f, wire.PathUnlockEvaluate, &wire.UnlockEvaluate{Credential: id,
		Challenge: ch.Challenge, Blinded: blinded, Signature: f.cred.SignEvaluate(ch.Challenge, blinded)})
	if err != nil {
		return nil, err
	}
	if f.out, err = a.Finish(ev.Evaluated); err != nil {
		return nil, err
	}
	f.next = ev.Challenge
	return f.out.Secret(), nil
}

func (f *scriptRelayFactor) confirm() error {
	_, err := post[*wire.UnlockChallenge](f, wire.PathUnlockConfirm,
		&wire.UnlockConfirm{Credential: f.cred.ID(), Challenge: f.next, Proof: f.out.Proof(f.next)})
	return err
}

func post[F wire.Frame](f *scriptRelayFactor, path string, in wire.Frame) (F, error) {
	var zero F
	body, err := wire.Marshal(in)
	if err != nil {
		return zero, err
	}
	resp, err := f.hc.Post(f.url+path, wire.ContentType, bytes.NewReader(body))
	if err != nil {
		return zero, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return zero, err
	}
	out, err := wire.ParseAs[F](b)
	if err != nil {
		return zero, errors.Join(errors.New("relay factor: "+path), err)
	}
	return out, nil
}
