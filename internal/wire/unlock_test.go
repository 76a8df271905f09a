package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/http"
	"testing"
)

// unlockSamples are one valid frame of each unlock type (part of
// samples(), so the round-trip test and FuzzParse's seeds cover them).
func unlockSamples() []Frame {
	f := func(b byte) (v [UnlockFieldLen]byte) {
		for i := range v {
			v[i] = b
		}
		return v
	}
	keep := f(7)
	return []Frame{
		&UnlockHello{Credential: f(1)},
		&UnlockChallenge{Challenge: f(2), Left: 9, Max: 10},
		&UnlockEvaluate{Credential: f(1), Challenge: f(2), Blinded: f(3), Signature: [UnlockSignatureLen]byte{4}},
		&UnlockEvaluation{Evaluated: f(5), Challenge: f(6), Left: 0, Max: 10},
		&UnlockConfirm{Credential: f(1), Challenge: f(6), Proof: f(8)},
		&UnlockEnrol{Credential: f(1), Blinded: f(3)},
		&UnlockActivate{Credential: f(1), Verifier: f(9)},
		&UnlockRetire{Keep: &keep},
		&UnlockRetire{},
	}
}

// TestUnlockKnownAnswer freezes the unlock layouts.
func TestUnlockKnownAnswer(t *testing.T) {
	x := func(b byte) string { return hex.EncodeToString(bytes.Repeat([]byte{b}, UnlockFieldLen)) }
	for _, tc := range []struct {
		f    Frame
		want string
	}{
		{unlockSamples()[1], "0151" + x(2) + "00000009" + "0000000a"},
		{unlockSamples()[4], "0154" + x(1) + x(6) + x(8)},
		{unlockSamples()[7], "0157" + "01" + x(7)},
		{unlockSamples()[8], "0157" + "00"},
	} {
		b, err := Marshal(tc.f)
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(b); got != tc.want {
			t.Errorf("%v:\n got %s\nwant %s", tc.f.Type(), got, tc.want)
		}
	}
}

func TestUnlockRefusals(t *testing.T) {
	for name, hexFrame := range map[string]string{
		"more left than max":   "0151" + hex.EncodeToString(make([]byte, 32)) + "0000000b" + "0000000a",
		"retire flag 2":        "015702",
		"retire without key":   "015701",
		"short hello":          "0150" + hex.EncodeToString(make([]byte, 31)),
		"evaluate trailing":    "0152" + hex.EncodeToString(make([]byte, 32*3+64+1)),
		"activate no verifier": "0156" + hex.EncodeToString(make([]byte, 32)),
	} {
		b, _ := hex.DecodeString(hexFrame)
		if _, err := Parse(b); !errors.Is(err, CodeMalformed) {
			t.Errorf("%s: Parse = %v, want malformed", name, err)
		}
	}
	if _, err := Marshal(&UnlockChallenge{Left: 2, Max: 1}); err == nil {
		t.Error("Marshal accepted more guesses left than the most")
	}
}

func TestUnlockCodes(t *testing.T) {
	for c, want := range map[Code]struct {
		name   string
		status int
	}{
		CodeUnlockLocked:  {"unlock-locked", http.StatusGone},
		CodeUnlockUnknown: {"unlock-unknown", http.StatusNotFound},
		CodeUnlockStale:   {"unlock-stale", http.StatusConflict},
	} {
		if !c.Known() || c.String() != want.name || c.HTTPStatus() != want.status {
			t.Errorf("code %d: %q %d, want %q %d", c, c.String(), c.HTTPStatus(), want.name, want.status)
		}
	}
	if CodeUnlockLocked != 40 || CodeUnlockUnknown != 41 || CodeUnlockStale != 42 {
		t.Error("unlock code numbers changed")
	}
	// Numbers of other workstreams not yet defined here read as unknown.
	if c := Code(22); c.Known() && c.String() == "" {
		t.Error("an unassigned code in the table's gap reads as known without a name")
	}
}
