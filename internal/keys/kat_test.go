package keys

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the known-answer vectors in testdata")

const katFile = "testdata/keys.json"

// katVectors computes every encoding from the fixed seeds of newFixture.
// Large values (ML-KEM keys, the bundle) are recorded as SHA-256 digests.
func katVectors(t *testing.T) map[string]string {
	f := newFixture(t, 1)
	digest := func(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }
	text, _ := f.id.Public().MarshalText()
	return map[string]string{
		"identity_public":                  hex.EncodeToString(f.id.Public().Bytes()),
		"identity_secret":                  hex.EncodeToString(f.id.MarshalSecret()),
		"identity_text":                    string(text),
		"device_public":                    hex.EncodeToString(f.dev.Public().Bytes()),
		"device_secret":                    hex.EncodeToString(f.dev.MarshalSecret()),
		"device_cert":                      hex.EncodeToString(f.cert),
		"signed_prekey_public":             hex.EncodeToString(f.spk.Public().Bytes()),
		"signed_prekey_secret":             hex.EncodeToString(f.spk.MarshalSecret()),
		"signed_prekey_sig":                hex.EncodeToString(f.spkSig),
		"onetime_prekey_public":            hex.EncodeToString(f.otk.Public().Bytes()),
		"onetime_prekey_secret":            hex.EncodeToString(f.otk.MarshalSecret()),
		"kem_prekey_public_sha256":         digest(f.kem.Public().Bytes()),
		"kem_prekey_secret":                hex.EncodeToString(f.kem.MarshalSecret()),
		"kem_prekey_sig":                   hex.EncodeToString(f.kemSig),
		"last_resort_prekey_public_sha256": digest(f.last.Public().Bytes()),
		"last_resort_prekey_sig":           hex.EncodeToString(f.lrSig),
		"bundle_sha256":                    digest(must(f.bundle().MarshalBinary())),
	}
}

// TestKnownAnswers fails on any change to a key encoding or signature.
// Run with -update to regenerate testdata/keys.json after an intended
// change (which is a protocol version change).
func TestKnownAnswers(t *testing.T) {
	got := katVectors(t)
	if *update {
		b, err := json.MarshalIndent(got, "", "\t")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.FromSlash(katFile), append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	b, err := os.ReadFile(filepath.FromSlash(katFile))
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]string
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if got[k] != want[k] {
			t.Errorf("%s:\n got %s\nwant %s", k, got[k], want[k])
		}
	}
	if len(want) != len(got) {
		t.Errorf("%s has %d vectors, the test computes %d", katFile, len(want), len(got))
	}
}
