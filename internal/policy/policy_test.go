package policy

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"reflect"
	"testing"
	"time"
)

func sample() *Policy {
	return &Policy{Version: 7, Issued: time.Unix(1_800_000_000, 0), MinPINDigits: 8, MinPassphrase: 12,
		RequiredFactors: []string{"relay", "keystore"}, RetentionDays: 90, DefaultTimer: 24 * time.Hour,
		MaxTimer: 7 * 24 * time.Hour, Attachments: true, MaxAttachment: 10 << 20, MaxDevices: 3,
		Linking: true, BackupsAllow: true}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	doc, err := Sign(sample(), priv)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Verify(doc, pub)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, sample()) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, sample())
	}
}

func TestVerifyRefusesForgeries(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	_, other, _ := ed25519.GenerateKey(nil)
	doc, _ := Sign(sample(), priv)
	forged, _ := Sign(sample(), other)
	if _, err := Verify(forged, pub); !errors.Is(err, ErrSignature) {
		t.Fatalf("other key's policy: %v", err)
	}
	for i := range doc {
		b := bytes.Clone(doc)
		b[i] ^= 0x01
		if p, err := Verify(b, pub); err == nil {
			t.Fatalf("byte %d flipped: accepted %+v", i, p)
		}
	}
	if _, err := Verify(doc, nil); !errors.Is(err, ErrSignature) {
		t.Fatalf("no key: %v", err)
	}
}

func TestCheckRefusesBadRules(t *testing.T) {
	for name, mod := range map[string]func(*Policy){
		"version 0":           func(p *Policy) { p.Version = 0 },
		"5 digits":            func(p *Policy) { p.MinPINDigits = 5 },
		"short passphrase":    func(p *Policy) { p.MinPassphrase = 4 },
		"default above max":   func(p *Policy) { p.DefaultTimer = 8 * 24 * time.Hour },
		"max without default": func(p *Policy) { p.DefaultTimer = 0 },
		"fractional timer":    func(p *Policy) { p.DefaultTimer = time.Minute + time.Millisecond },
		"duplicate factor":    func(p *Policy) { p.RequiredFactors = []string{"a", "a"} },
		"empty factor":        func(p *Policy) { p.RequiredFactors = []string{""} },
		"negative retention":  func(p *Policy) { p.RetentionDays = -1 },
		"negative size":       func(p *Policy) { p.MaxAttachment = -1 },
	} {
		p := sample()
		mod(p)
		if _, err := p.MarshalBody(); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestParseFile(t *testing.T) {
	issued := time.Unix(1_800_000_000, 0)
	p, err := ParseFile([]byte(`{"version":2,"min_pin_digits":8,"default_timer_seconds":86400,
		"max_timer_seconds":86400,"attachments":false,"linking":false,"screenshots":false,"backups":false}`), issued)
	if err != nil {
		t.Fatal(err)
	}
	if p.Version != 2 || p.MinPINDigits != 8 || p.MaxTimer != 24*time.Hour || p.Attachments || !p.Issued.Equal(issued) {
		t.Fatalf("got %+v", p)
	}
	for _, bad := range []string{
		`{"version":2,"attachments":false,"linking":false,"screenshots":false}`,
		`{"version":2,"attachments":false,"linking":false,"screenshots":false,"backups":false,"typo":1}`,
		`{"version":0,"attachments":false,"linking":false,"screenshots":false,"backups":false}`,
		`{"version":2,"attachments":false,"linking":false,"screenshots":false,"backups":false} {}`,
	} {
		if _, err := ParseFile([]byte(bad), issued); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

// FuzzParse: whatever Parse accepts re-encodes to the same bytes, and
// nothing panics.
func FuzzParse(f *testing.F) {
	_, priv, _ := ed25519.GenerateKey(nil)
	doc, _ := Sign(sample(), priv)
	f.Add(doc)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Parse(b)
		if err != nil {
			return
		}
		body, err := s.Policy.MarshalBody()
		if err != nil || !bytes.Equal(body, s.Body) {
			t.Fatalf("accepted body does not re-encode: %v", err)
		}
	})
}
