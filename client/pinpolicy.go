package client

import (
	"bytes"
	"errors"
	"fmt"
	"unicode/utf8"
)

// ErrWeakPIN: a new PIN (at Create or ChangePIN) breaks the PIN policy.
// The error is a *WeakPINError naming the rule; PINPolicy.Describe says
// what would pass.
var ErrWeakPIN = errors.New("client: PIN too weak")

// The rules of the PIN policy, as a WeakPINError names them.
const (
	// RuleTooShort: fewer digits than MinDigits (a PIN of digits only) or
	// fewer characters than MinPassphrase (anything else).
	RuleTooShort = "too-short"
	// RuleRepeated: one character or one block repeated, as in 111111,
	// 121212 or 123123.
	RuleRepeated = "repeated"
	// RuleSequence: an ascending or descending run, as in 123456, 890123,
	// 987654 or abcdefgh.
	RuleSequence = "sequence"
	// RuleCommon: among the most common PINs and passwords.
	RuleCommon = "common"
	// RuleEncoding: not valid UTF-8, or holds control characters.
	RuleEncoding = "encoding"
)

// Floors of the PIN policy: the zero PINPolicy uses them, and a policy
// cannot go below them.
const (
	MinPINDigits     = 6
	MinPassphraseLen = 8
)

// PINPolicy is the rule every new PIN must pass: Create and ChangePIN
// refuse others with a *WeakPINError. A PIN of digits only needs at least
// MinDigits of them; anything else is a passphrase of at least
// MinPassphrase characters. Neither may be a repeat (111111, 121212), a
// run (123456, 987654, abcdefgh) or one of the most common PINs and
// passwords. Apps can raise the minimums, never lower them. The zero value
// is the default policy (6 digits, 8 characters). Unlock does not check
// it: a vault made before keeps opening.
type PINPolicy struct {
	MinDigits     int // at least MinPINDigits
	MinPassphrase int // at least MinPassphraseLen
}

func (p PINPolicy) effective() PINPolicy {
	return PINPolicy{MinDigits: max(p.MinDigits, MinPINDigits), MinPassphrase: max(p.MinPassphrase, MinPassphraseLen)}
}

// Describe says what passes the policy, for an app's or the CLI's hint.
func (p PINPolicy) Describe() string {
	e := p.effective()
	return fmt.Sprintf("at least %d digits that are not a repeat (like 121212), a run (like 345678) or a common PIN, "+
		"or a passphrase of at least %d characters", e.MinDigits, e.MinPassphrase)
}

// WeakPINError reports which rule a PIN broke. It matches ErrWeakPIN.
type WeakPINError struct {
	Rule   string    // one of the Rule constants
	Policy PINPolicy // the policy in force, minimums filled in
	detail string
}

func (e *WeakPINError) Error() string { return "client: PIN refused (" + e.Rule + "): " + e.detail }

func (e *WeakPINError) Unwrap() error { return ErrWeakPIN }

// Check reports whether pin passes the policy: nil, or a *WeakPINError.
// It never puts the PIN in the error.
func (p PINPolicy) Check(pin []byte) error {
	e := p.effective()
	weak := func(rule, format string, args ...any) error {
		return &WeakPINError{Rule: rule, Policy: e, detail: fmt.Sprintf(format, args...)}
	}
	if !printableUTF8(pin) {
		return weak(RuleEncoding, "a PIN must be printable UTF-8 text")
	}
	digits := len(pin) > 0 && allDigits(pin)
	n := utf8.RuneCount(pin)
	switch {
	case digits && n < e.MinDigits:
		return weak(RuleTooShort, "%d digits; a PIN needs at least %d", n, e.MinDigits)
	case !digits && n < e.MinPassphrase:
		return weak(RuleTooShort, "%d characters; a passphrase needs at least %d", n, e.MinPassphrase)
	case repeated(pin):
		return weak(RuleRepeated, "the same character or block repeated")
	case sequence(pin):
		return weak(RuleSequence, "an ascending or descending run")
	case common(pin):
		return weak(RuleCommon, "one of the most common PINs and passwords")
	}
	return nil
}

func printableUTF8(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return false
		}
		b = b[size:]
	}
	return true
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// repeated reports whether b is one block of at most half its length
// repeated (111111, 121212, 123123, abcabcab is not: 8 is no multiple of 3).
func repeated(b []byte) bool {
	for l := 1; l <= len(b)/2; l++ {
		if len(b)%l != 0 {
			continue
		}
		same := true
		for i := l; i < len(b) && same; i++ {
			same = b[i] == b[i-l]
		}
		if same {
			return true
		}
	}
	return false
}

// sequence reports whether b runs up or down by one at every step: digits
// modulo 10 (890123, 210987), ASCII letters ignoring case (abcdefgh).
func sequence(b []byte) bool {
	if len(b) < 3 {
		return false
	}
	var mod byte
	switch {
	case allDigits(b):
		mod = 10
	case allLetters(b):
		mod = 26
	default:
		return false
	}
	up, down := true, true
	for i := 1; i < len(b); i++ {
		d := (index(b[i]) + mod - index(b[i-1])) % mod
		up = up && d == 1
		down = down && d == mod-1
	}
	return up || down
}

func allLetters(b []byte) bool {
	for _, c := range b {
		if c|0x20 < 'a' || c|0x20 > 'z' {
			return false
		}
	}
	return true
}

// index is a digit's value or a letter's place in the alphabet.
func index(c byte) byte {
	if c >= '0' && c <= '9' {
		return c - '0'
	}
	return c | 0x20 - 'a'
}

// commonPINs are frequent choices that the repeat and run rules do not
// catch: keypad patterns, mirrored and doubled pairs, dates and words.
// Lists of leaked PINs and passwords put each of these near the top.
var commonPINs = [][]byte{
	[]byte("112233"), []byte("123321"), []byte("654456"), []byte("159753"), []byte("147258"),
	[]byte("258369"), []byte("789456"), []byte("456123"), []byte("147852"), []byte("741852"),
	[]byte("963852"), []byte("852963"), []byte("159357"), []byte("753951"), []byte("951753"),
	[]byte("123789"), []byte("102030"), []byte("112358"), []byte("121314"), []byte("520131"),
	[]byte("201314"), []byte("147369"), []byte("369258"), []byte("246810"), []byte("135790"),
	[]byte("123654"), []byte("654123"), []byte("100200"), []byte("111222"), []byte("998877"),
	[]byte("778899"), []byte("124578"), []byte("142536"), []byte("123465"), []byte("11223344"),
	[]byte("password"), []byte("password1"), []byte("password123"), []byte("passw0rd"), []byte("p@ssw0rd"),
	[]byte("qwertyui"), []byte("qwertyuiop"), []byte("qwerty123"), []byte("asdfghjk"), []byte("asdfghjkl"),
	[]byte("iloveyou"), []byte("sunshine"), []byte("princess"), []byte("football"), []byte("baseball"),
	[]byte("welcome1"), []byte("abc12345"), []byte("abcd1234"), []byte("1q2w3e4r"), []byte("1qaz2wsx"),
	[]byte("zaq12wsx"), []byte("letmein1"), []byte("trustno1"), []byte("superman"), []byte("starwars"),
	[]byte("whatever"), []byte("changeme"), []byte("q1w2e3r4"), []byte("1234qwer"), []byte("aa123456"),
}

func common(b []byte) bool {
	for _, c := range commonPINs {
		if bytes.EqualFold(b, c) {
			return true
		}
	}
	return false
}
