package server_test

import (
	"archive/tar"
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/ncruces/go-sqlite3/driver" // the "sqlite3" driver

	"parley.dev/server"
	"parley.dev/server/servertest"
)

func rowCount(t *testing.T, db *sql.DB, q string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// TestBackupRestore: a backup taken while the relay runs restores into a
// relay with the same accounts and devices, passes SQLite's integrity
// check, and hands out none of the one-time prekeys it held (they may have
// been handed out after the backup). A second restore into the same
// directory, and an archive entry outside the data layout, are refused.
func TestBackupRestore(t *testing.T) {
	ctx := context.Background()
	r := servertest.Start(t)
	alice := register(t, r, "alice")
	if _, err := alice.Call("PUT", "/v1/prekeys", alice.PreKeys(t, true, 1, 5, 5)); err != nil {
		t.Fatal(err)
	}
	register(t, r, "bob")

	var archive bytes.Buffer
	if err := r.Server.Backup(ctx, &archive); err != nil {
		t.Fatalf("Backup of a running relay: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "restored")
	dropped, err := server.Restore(ctx, bytes.NewReader(archive.Bytes()), dir)
	if err != nil {
		t.Fatal(err)
	}
	if dropped != 10 {
		t.Fatalf("%d one-time prekeys dropped, want the 10 alice uploaded", dropped)
	}
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, server.DatabaseFile)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var ok string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("integrity_check = %q, %v", ok, err)
	}
	if n := rowCount(t, db, "SELECT COUNT(*) FROM users"); n != 2 {
		t.Fatalf("%d users restored, want 2", n)
	}
	if n := rowCount(t, db, "SELECT COUNT(*) FROM one_time_prekeys"); n != 0 {
		t.Fatalf("%d one-time prekeys restored", n)
	}
	if n := rowCount(t, db, "SELECT COUNT(*) FROM signed_prekeys"); n == 0 {
		t.Fatal("the signed (last-resort) prekeys were not restored")
	}
	st, err := os.Stat(filepath.Join(dir, server.DatabaseFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("restored database mode %v, %v", st.Mode(), err)
	}
	if _, err := server.Restore(ctx, bytes.NewReader(archive.Bytes()), dir); err == nil {
		t.Fatal("restore over existing data accepted")
	}
	for _, name := range []string{"../x.db", "blobs/data/../../x", "ca-key.pem", "/etc/passwd"} {
		var evil bytes.Buffer
		tw := tar.NewWriter(&evil)
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: 1, Typeflag: tar.TypeReg})
		tw.Write([]byte("x"))
		tw.Close()
		_, err = server.Restore(ctx, &evil, filepath.Join(t.TempDir(), "evil"))
		if err == nil || !strings.Contains(err.Error(), "unexpected entry") {
			t.Fatalf("entry %q: %v", name, err)
		}
	}
}

// TestBackupRefusesPostgres: a relay on PostgreSQL is pg_dump's job.
func TestBackupRefusesPostgres(t *testing.T) {
	s := &server.Server{DataDir: t.TempDir(), StoreDSN: "postgres://127.0.0.1/none"}
	if err := s.Backup(context.Background(), &bytes.Buffer{}); err != server.ErrBackupPostgres {
		t.Fatalf("Backup on PostgreSQL: %v", err)
	}
}
