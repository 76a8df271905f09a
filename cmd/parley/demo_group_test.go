package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestGroupDemo runs "parley demo --group": it succeeds, each member
// reads the others, and carol reads nothing sent after her removal.
func TestGroupDemo(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"demo", "--group"}, strings.NewReader(""), &stdout, &stderr)
	out := stdout.String()
	if err != nil || report(&stderr, err) != exitOK {
		t.Fatalf("group demo failed: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr.String())
	}
	for _, want := range []string{
		"bob joined, after checking alice's signature: 3 members",
		"ok: each read the other two, once each",
		"carol sees   alice removed carol",
		"ok: carol read nothing written after her removal",
		"carol's vault: searched",
		"All 7 steps succeeded.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("group demo output lacks %q:\n%s", want, out)
		}
	}
	// After carol sees her removal, she reads nothing.
	after := out[strings.Index(out, "carol sees   alice removed carol"):]
	if strings.Contains(after, "carol reads") {
		t.Errorf("carol read after her removal:\n%s", after)
	}
}
