package client_test

import (
	"bytes"
	"context"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
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
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	reg := func(name string) *client.Client {
		c := &client.Client{Home: filepath.Join(t.TempDir(), name), Server: r.URL, CAFile: r.CAFile, Logger: logger}
		client.SetOneTimePreKeys(c, testOneTimePreKeys)
		if err := c.Create(context.Background(), testPIN); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := c.Register(context.Background(), name, client.RegisterOptions{}); err != nil {
			t.Fatal(err)
		}
		return c
	}
	alice, bob := reg(aliceName), reg(bobName)
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
	// The logs may name users and devices, never texts, keys or the PIN.
	if logs.Len() == 0 {
		t.Fatal("nothing was logged")
	}
	for _, c := range append(canaries[3:], testPIN) {
		if bytes.Contains(logs.Bytes(), c) {
			t.Errorf("the log holds canary %q", c)
		}
	}
	alice.Close()
	bob.Close()
	scan(t, homes, canaries, "closed")
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

func (b *syncBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
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
