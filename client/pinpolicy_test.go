package client_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"parley.dev/client"
)

func TestPINPolicy(t *testing.T) {
	for pin, rule := range map[string]string{
		"":                 client.RuleTooShort,
		"1":                client.RuleTooShort,
		"4807":             client.RuleTooShort,
		"48071":            client.RuleTooShort,
		"short":            client.RuleTooShort,
		"seven77":          client.RuleTooShort,
		"111111":           client.RuleRepeated,
		"121212":           client.RuleRepeated,
		"123123":           client.RuleRepeated,
		"00000000":         client.RuleRepeated,
		"passpass":         client.RuleRepeated,
		"123456":           client.RuleSequence,
		"987654":           client.RuleSequence,
		"890123":           client.RuleSequence,
		"3210987":          client.RuleSequence,
		"abcdefgh":         client.RuleSequence,
		"ZYXWVUTS":         client.RuleSequence,
		"112233":           client.RuleCommon,
		"159753":           client.RuleCommon,
		"Password":         client.RuleCommon,
		"iloveyou":         client.RuleCommon,
		"with\x00nul":      client.RuleEncoding,
		"bad\xffutf8bytes": client.RuleEncoding,
		"tab\there here":   client.RuleEncoding,
	} {
		err := client.PINPolicy{}.Check([]byte(pin))
		var weak *client.WeakPINError
		if !errors.As(err, &weak) || !errors.Is(err, client.ErrWeakPIN) || weak.Rule != rule {
			t.Errorf("Check(%q) = %v, want rule %s", pin, err, rule)
			continue
		}
		if len(pin) >= 6 && strings.Contains(err.Error(), pin) {
			t.Errorf("the error for %q shows the PIN", pin)
		}
	}
	for _, pin := range []string{"480715", "2468135", "31415926", "correct horse", "Grüße aus Köln", "q7#Lm2!z"} {
		if err := (client.PINPolicy{}).Check([]byte(pin)); err != nil {
			t.Errorf("Check(%q) = %v, want nil", pin, err)
		}
	}
	raised := client.PINPolicy{MinDigits: 8, MinPassphrase: 12}
	for pin, ok := range map[string]bool{"480715": false, "48071593": true, "correct horse": true, "correct hor": false} {
		if err := raised.Check([]byte(pin)); (err == nil) != ok {
			t.Errorf("raised policy, %q: %v", pin, err)
		}
	}
	if err := (client.PINPolicy{MinDigits: 2, MinPassphrase: 3}).Check([]byte("4807")); err == nil {
		t.Error("a policy below the floor was applied")
	}
	if d := raised.Describe(); !strings.Contains(d, "8 digits") || !strings.Contains(d, "12 characters") {
		t.Errorf("Describe = %q", d)
	}
}

// TestWeakPINRefused: Create and ChangePIN refuse a weak PIN and change
// nothing; Unlock does not judge an existing PIN.
func TestWeakPINRefused(t *testing.T) {
	t.Parallel()
	home := filepath.Join(t.TempDir(), "home")
	c := &client.Client{Home: home}
	err := c.Create(context.Background(), []byte("1234"))
	if !errors.Is(err, client.ErrWeakPIN) {
		t.Fatalf("Create(1234) = %v", err)
	}
	if _, err := os.Stat(home); err == nil {
		t.Fatal("a refused Create left a directory")
	}
	c.PINPolicy = client.PINPolicy{MinDigits: 8}
	if err := c.Create(context.Background(), testPIN); !errors.Is(err, client.ErrWeakPIN) {
		t.Fatalf("raised minimum: %v", err)
	}
	c.PINPolicy = client.PINPolicy{}
	if err := c.Create(context.Background(), testPIN); err != nil {
		t.Fatal(err)
	}
	if err := c.ChangePIN(context.Background(), testPIN, []byte("000000")); !errors.Is(err, client.ErrWeakPIN) {
		t.Fatalf("ChangePIN to 000000: %v", err)
	}
	c.Close()
	mustUnlock(t, home, testPIN)
}
