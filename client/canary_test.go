package client_test

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"parley.dev/client"
)

// TestCanaryNothingReadableOnDisk: after a conversation, no file under
// either device's home holds a message text, a user name or key bytes in
// the clear, while the vaults are open and after they are closed.
func TestCanaryNothingReadableOnDisk(t *testing.T) {
	t.Parallel()
	r := startRelay(t)
	const aliceName, bobName = "canary-alice-7f3a", "canary-bob-91c2"
	texts := []string{"canary text: the vault door is blue", "canary reply: meet at the old mill at noon"}
	alice, bob := register(t, r, aliceName), register(t, r, bobName)
	send(t, alice, bobName, texts[0])
	syncNow(t, bob)
	send(t, bob, aliceName, texts[1])
	syncNow(t, alice)
	if _, err := alice.SafetyNumber(context.Background(), bobName); err != nil {
		t.Fatal(err)
	}

	canaries := [][]byte{[]byte(aliceName), []byte(bobName), []byte(r.URL)}
	for _, s := range texts {
		canaries = append(canaries, []byte(s), []byte(s[len(s)-12:]))
	}
	for _, c := range []*client.Client{alice, bob} {
		canaries = append(canaries, client.KeyCanaries(c)...)
	}
	homes := []string{alice.Home, bob.Home}
	scan(t, homes, canaries, "open")
	alice.Close()
	bob.Close()
	scan(t, homes, canaries, "closed")
}

func scan(t *testing.T, homes []string, canaries [][]byte, when string) {
	t.Helper()
	files := 0
	for _, home := range homes {
		err := filepath.WalkDir(home, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			files++
			rel, _ := filepath.Rel(home, path)
			for _, c := range canaries {
				if strings.Contains(rel, string(c)) {
					t.Errorf("%s: file name %s holds a canary", when, path)
				}
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, c := range canaries {
				if bytes.Contains(data, c) {
					t.Errorf("%s: %s holds canary %q in the clear", when, path, c)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if files < 2*len(homes) {
		t.Fatalf("%s: scanned only %d files", when, files)
	}
}
