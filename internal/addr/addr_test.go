package addr

import (
	"errors"
	"testing"
)

func TestParseUserID(t *testing.T) {
	good := []string{"alice", "a", "bob.smith", "x_1-2", "0day"}
	bad := []string{"", "Alice", "-bob", ".x", "a/b", "a b", "ünï", string(make([]byte, MaxUserIDLen+1))}
	for _, s := range good {
		if _, err := ParseUserID(s); err != nil {
			t.Errorf("ParseUserID(%q) = %v, want ok", s, err)
		}
	}
	for _, s := range bad {
		if _, err := ParseUserID(s); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseUserID(%q) = %v, want ErrInvalid", s, err)
		}
	}
}

func TestAddressRoundTrip(t *testing.T) {
	a := Address{User: "alice", Device: 42}
	got, err := ParseAddress(a.String())
	if err != nil || got != a {
		t.Fatalf("ParseAddress(%q) = %v, %v", a.String(), got, err)
	}
	for _, s := range []string{"alice", "alice/0", "alice/01", "alice/-1", "alice/4294967296", "/1", "Alice/1"} {
		if _, err := ParseAddress(s); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseAddress(%q) = %v, want ErrInvalid", s, err)
		}
	}
}

func TestAppendBinaryDistinct(t *testing.T) {
	// "ab"/1 and "a"/... must never encode alike: the length prefix prevents it.
	x, _ := Address{User: "ab", Device: 1}.AppendBinary(nil)
	y, _ := Address{User: "a", Device: 0x62000000 | 1}.AppendBinary(nil)
	if string(x) == string(y) {
		t.Fatal("distinct addresses encode alike")
	}
	if _, err := (Address{User: "a"}).AppendBinary(nil); err == nil {
		t.Fatal("device 0 accepted")
	}
}

func TestMessageID(t *testing.T) {
	a, b := NewMessageID(), NewMessageID()
	if a == b || a.IsZero() {
		t.Fatal("NewMessageID not random")
	}
	got, err := ParseMessageID(a.String())
	if err != nil || got != a {
		t.Fatalf("round trip: %v %v", got, err)
	}
	if _, err := ParseMessageID(MessageID{}.String()); err == nil {
		t.Fatal("zero ID accepted")
	}
}

func FuzzParseAddress(f *testing.F) {
	f.Add("alice/1")
	f.Add("a/4294967295")
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddress(s)
		if err != nil {
			return
		}
		if a.String() != s {
			t.Fatalf("ParseAddress(%q).String() = %q", s, a.String())
		}
	})
}
