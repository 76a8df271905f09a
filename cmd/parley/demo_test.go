package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDemo runs "parley demo" in-process, as a newcomer would, and checks
// that it succeeds and shows offline delivery and matching safety numbers.
func TestDemo(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir()) // the demo's own directory goes here
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"demo"}, strings.NewReader(""), &stdout, &stderr)
	out := stdout.String()
	if err != nil || report(&stderr, err) != exitOK {
		t.Fatalf("demo failed: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr.String())
	}
	for _, want := range []string{
		"bob is offline; alice sends him three messages",
		"the relay's counters: 3 envelopes stored, 0 delivered, 0 devices connected",
		"ok: bob received all three, once each, in order",
		"ok: alice received the reply",
		"ok: they match",
		"the relay: searched",
		"ok: the relay only ever held ciphertext",
		"All 8 steps succeeded.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	// bob's three messages print in order, then alice's copy of the reply.
	received := regexp.MustCompile(`(?m)^   \[[^]]+\] (alice|bob): (.*)$`).FindAllStringSubmatch(out, -1)
	var got []string
	for _, m := range received {
		got = append(got, m[1]+": "+m[2])
	}
	want := []string{"alice: " + demoTexts[0], "alice: " + demoTexts[1], "alice: " + demoTexts[2], "bob: " + demoReply}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("messages shown:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The two numbers printed are equal.
	numbers := regexp.MustCompile(`screen for (?:bob|alice): ([\d ]+)`).FindAllStringSubmatch(out, -1)
	if len(numbers) != 2 || numbers[0][1] != numbers[1][1] || len(strings.ReplaceAll(numbers[0][1], " ", "")) != 60 {
		t.Errorf("safety numbers shown: %q", numbers)
	}
	// It cleans up after itself.
	if left, _ := filepath.Glob(filepath.Join(os.Getenv("TMPDIR"), "parley-demo-*")); len(left) != 0 {
		t.Errorf("demo left %v behind", left)
	}
}

// TestSearchTreeFindsPlantedSecret shows that the canary commands would
// notice a leak: a key piece, or a text, written in the clear is found.
func TestSearchTreeFindsPlantedSecret(t *testing.T) {
	dir := t.TempDir()
	secret := []byte{0x01, 0x02, 0x9a, 0x33, 0x47, 0xfe, 0x10, 0x5c, 0x77, 0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x07, 0x18, 0x29}
	pieces := chunks(append([]byte{1, 2}, secret...)) // a header, then key material
	if len(pieces) == 0 {
		t.Fatal("no pieces cut from random-looking bytes")
	}
	if got := chunks(make([]byte, 64)); len(got) != 0 {
		t.Errorf("zeros gave %d pieces; want none", len(got))
	}
	leak := append([]byte("some database page ... "), secret...)
	if err := os.WriteFile(filepath.Join(dir, "parley.db-wal"), leak, 0o600); err != nil {
		t.Fatal(err)
	}
	files, found, err := searchTree(dir, append(pieces, "not there"))
	if err != nil || files != 1 || len(found) != 1 || found[0].needle != pieces[0] {
		t.Errorf("searchTree = %d, %v, %v; want the planted piece found in 1 file", files, found, err)
	}
}
