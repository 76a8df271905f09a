package mobile

import (
	"errors"
	"os"
	"strings"
	"testing"

	"parley.dev/client"
)

// TestEveryCodeIsDocumented: an app developer branches on the codes the
// package doc lists, so each one the package can return is there, once.
func TestEveryCodeIsDocumented(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range append(codesOf(), "relay", "internal") {
		if seen[c] {
			t.Errorf("code %q used twice", c)
		}
		seen[c] = true
		if !strings.Contains(string(doc), "//\tparley:"+c+" ") {
			t.Errorf("code parley:%s is not in the package doc", c)
		}
	}
}

func codesOf() []string {
	var out []string
	for _, c := range codes {
		out = append(out, c.code)
	}
	return out
}

func TestCodeIsTheMostSpecific(t *testing.T) {
	for err, want := range map[error]string{
		client.ErrRelayLocked:                                   "relay_locked", // also ErrWiped
		client.ErrRelayNeeded:                                   "relay_needed", // also ErrUnreachable
		errors.Join(client.ErrQueued, client.ErrUnreachable):    "queued",
		&client.PINError{Err: client.ErrWrongPIN, Remaining: 3}: "wrong_pin",
		&client.RelayError{Code: "mailbox-full"}:                "relay",
		&client.PolicyError{Rule: client.RuleAttachments}:       "policy",
		errors.New("something else"):                            "internal",
	} {
		got := wrap(err)
		if !strings.HasPrefix(got.Error(), "parley:"+want+": ") || !errors.Is(got, err) {
			t.Errorf("wrap(%v) = %v, want code %s", err, got, want)
		}
	}
	if wrap(nil) != nil {
		t.Error("wrap(nil) is not nil")
	}
}
