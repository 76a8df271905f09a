package store

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"parley.dev/internal/addr"
)

// marker is what the deletion tests look for in the files: payloads
// repeat it, so that a copy of any page of the payload holds it whole.
var marker = []byte("PARLEY-DELETED-PAYLOAD-MARKER-7f3a91")

func markerPayload(size int) []byte {
	return bytes.Repeat(marker, size/len(marker)+1)[:size]
}

// filesHolding lists the files under dir whose bytes contain needle.
func filesHolding(t *testing.T, dir string, needle []byte) []string {
	t.Helper()
	var found []string
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // removed meanwhile (SQLite's -shm, -wal at close)
		}
		if bytes.Contains(b, needle) {
			found = append(found, e.Name())
		}
	}
	return found
}

// submitAndAck stores one envelope of payload to a new user's device and
// acknowledges (deletes) it, returning the recipient.
func submitAndAck(t *testing.T, s Store, user addr.UserID, id addr.MessageID, payload []byte) {
	t.Helper()
	ctx := context.Background()
	if err := s.CreateUser(ctx, User{ID: user, Identity: []byte("identity")}); err != nil {
		t.Fatal(err)
	}
	dev, err := s.AddDevice(ctx, Device{Address: addr.Address{User: user}, Key: []byte("key"), Cert: []byte("cert")})
	if err != nil {
		t.Fatal(err)
	}
	to := addr.Address{User: user, Device: dev}
	res, err := s.Submit(ctx, []Envelope{{From: to, To: to, ID: id, Payload: payload}})
	if err != nil || res[0].Err != nil {
		t.Fatal(err, res)
	}
	if n, err := s.Ack(ctx, to, []int64{res[0].Seq}); err != nil || n != 1 {
		t.Fatal(n, err)
	}
}

// TestSecureDeleteModes shows which secure_delete setting leaves no copy
// of a deleted envelope in the database file once the WAL is checkpointed
// and truncated: ON does, for an envelope within one page and for one
// whose payload spills onto overflow pages. FAST leaves freed overflow
// pages as they were, OFF leaves everything; so ON is the setting.
func TestSecureDeleteModes(t *testing.T) {
	sizes := map[string]int{"in-page": 1 << 10, "overflow": 64 << 10}
	for _, mode := range []string{"ON", "FAST", "OFF"} {
		for name, size := range sizes {
			dir := t.TempDir()
			s, err := Open(context.Background(), filepath.Join(dir, "p.db"), Options{secureDelete: mode, CheckpointInterval: -1})
			if err != nil {
				t.Fatal(err)
			}
			submitAndAck(t, s, "alice", addr.MessageID{1}, markerPayload(size))
			s.(*sqlStore).cp.Checkpoint()
			found := filesHolding(t, dir, marker)
			s.Close()
			t.Logf("secure_delete=%s, %s payload: marker in %v", mode, name, found)
			switch {
			case mode == "ON" && len(found) > 0:
				t.Errorf("secure_delete=ON, %s payload: marker still in %v", name, found)
			case mode == "OFF" && len(found) == 0, mode == "FAST" && name == "overflow" && len(found) == 0:
				t.Errorf("secure_delete=%s, %s payload: no marker left; the test cannot tell the settings apart", mode, name)
			}
		}
	}
}

// TestCheckpointBound: an acknowledged envelope is still in the WAL right
// after its ack, and in no file of the directory once the checkpoint
// interval has passed (fake time: the store runs in a synctest bubble).
func TestCheckpointBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		s, err := Open(context.Background(), filepath.Join(dir, "p.db"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		id := addr.MessageID{0xfe, 0xed, 0xfa, 0xce, 0x0b, 0xad, 0xf0, 0x0d, 0xde, 0xad, 0xbe, 0xef, 0xca, 0xfe, 0xba, 0xbe}
		submitAndAck(t, s, "alice", id, markerPayload(64<<10))
		if got := filesHolding(t, dir, marker); !slicesEqual(got, []string{"p.db-wal"}) {
			t.Fatalf("right after the ack the marker is in %v, want only the WAL (else this test proves nothing)", got)
		}
		time.Sleep(DefaultCheckpointInterval - time.Second)
		synctest.Wait()
		if got := filesHolding(t, dir, marker); len(got) == 0 {
			t.Fatalf("marker gone before the interval: the checkpointer is not what removes it")
		}
		time.Sleep(time.Second)
		synctest.Wait()
		for _, needle := range [][]byte{marker, id[:]} {
			if got := filesHolding(t, dir, needle); len(got) > 0 {
				t.Errorf("%q still in %v after the checkpoint interval", needle[:8], got)
			}
		}
		if fi, err := os.Stat(filepath.Join(dir, "p.db-wal")); err != nil || fi.Size() != 0 {
			t.Errorf("WAL after the checkpoint: %v, %v; want empty", fi.Size(), err)
		}
	})
}

// TestCloseCheckpoints: with no interval, Close alone removes the copy.
func TestCloseCheckpoints(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(context.Background(), filepath.Join(dir, "p.db"), Options{CheckpointInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	submitAndAck(t, s, "alice", addr.MessageID{2}, markerPayload(4<<10))
	if got := filesHolding(t, dir, marker); len(got) == 0 {
		t.Fatal("marker in no file before Close: this test proves nothing")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := filesHolding(t, dir, marker); len(got) > 0 {
		t.Errorf("marker still in %v after Close", got)
	}
}

func slicesEqual(a, b []string) bool { return strings.Join(a, "\x00") == strings.Join(b, "\x00") }
