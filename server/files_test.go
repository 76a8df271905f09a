//go:build unix

package server_test

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"parley.dev/internal/addr"
	"parley.dev/internal/private/privatetest"
	"parley.dev/server"
)

// TestFilesArePrivate: under umask 022, in a data directory created 0755
// holding a world-readable file, the relay's database, WAL, shared-memory
// file and dev CA files are 0600 and the directory 0700, while it runs
// and after it stops.
func TestFilesArePrivate(t *testing.T) {
	privatetest.Umask(t, 0o022)
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	stray := filepath.Join(dir, server.DatabaseFile+"-wal")
	if err := os.WriteFile(stray, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r := startRelay(t, func(s *server.Server) { s.DataDir = dir })
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	mustStore(t, bob.Dial(t), alice.Addr, msgID(1), []byte("hello"))
	aws := alice.Dial(t)
	ack(t, aws, drain(t, aws)[0].Seq)
	for _, name := range []string{server.DatabaseFile, server.DatabaseFile + "-wal", server.DatabaseFile + "-shm", server.DevCAFile, "ca-key.pem"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("expected %s: %v", name, err)
		}
	}
	checkPrivate(t, dir)
	r.Stop(t)
	checkPrivate(t, dir)
}

// TestDevTLSFilesArePrivate: DevTLS alone (as parleyd --dev runs it before
// the relay starts) writes nothing readable by others.
func TestDevTLSFilesArePrivate(t *testing.T) {
	privatetest.Umask(t, 0o022)
	dir := filepath.Join(t.TempDir(), "dev")
	if _, err := server.DevTLS(dir); err != nil {
		t.Fatal(err)
	}
	checkPrivate(t, dir)
	os.Chmod(dir, 0o755)
	if _, err := server.DevTLS(dir, "relay.test"); err != nil { // reissues the certificate
		t.Fatal(err)
	}
	checkPrivate(t, dir)
}

// TestAckedEnvelopeGoneFromDisk: an envelope with a marker payload,
// acknowledged over the WebSocket, is in no file of the data directory
// once the checkpoint interval has passed (a short one here; the store's
// TestCheckpointBound shows the default with a fake clock). Right after
// the ack it still is, so the scan can see it.
func TestAckedEnvelopeGoneFromDisk(t *testing.T) {
	const interval = 300 * time.Millisecond
	r := startRelay(t, func(s *server.Server) { s.CheckpointInterval = interval })
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	marker := []byte("RELAY-ACKED-ENVELOPE-MARKER-c0ffee")
	payload := bytes.Repeat(marker, 2000) // about 66 KB: overflow pages too
	id := addr.MessageID{0x5e, 0xc2, 0xe7, 0xde, 0x1e, 0x7e, 0xd0, 0x0d, 0x15, 0x90, 0x4e, 0x71, 0x3a, 0x8b, 0x26, 0xc4}
	mustStore(t, bob.Dial(t), alice.Addr, id, payload)
	if len(filesHolding(t, r.Dir, marker)) == 0 || len(filesHolding(t, r.Dir, id[:])) == 0 {
		t.Fatal("the stored envelope is in no file: the scan cannot see it")
	}
	aws := alice.Dial(t)
	got := drain(t, aws)
	if len(got) != 1 || !bytes.Equal(got[0].Payload, payload) {
		t.Fatalf("alice got %d envelopes", len(got))
	}
	ack(t, aws, got[0].Seq)
	acked := time.Now()
	waitFor(t, func() bool { return len(filesHolding(t, r.Dir, marker)) == 0 })
	if took := time.Since(acked); took > interval+5*time.Second { // slack for a loaded machine
		t.Errorf("marker gone %v after the ack, want within about %v", took, interval)
	}
	if f := filesHolding(t, r.Dir, id[:]); len(f) > 0 {
		t.Errorf("message ID still in %v", f)
	}
}

// filesHolding lists the files of dir whose bytes contain needle.
func filesHolding(t *testing.T, dir string, needle []byte) []string {
	t.Helper()
	var found []string
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if b, err := os.ReadFile(path); err == nil && bytes.Contains(b, needle) {
			found = append(found, filepath.Base(path))
		}
		return nil
	})
	return found
}

// checkPrivate is privatetest.Check, requiring that there was something
// to check.
func checkPrivate(t *testing.T, dir string) {
	t.Helper()
	if n := privatetest.Check(t, dir); n < 2 {
		t.Errorf("%s holds %d entries: nothing was checked", dir, n)
	}
}
