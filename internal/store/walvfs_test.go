package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"parley.dev/internal/addr"
	"parley.dev/internal/coalesce"

	"github.com/ncruces/go-sqlite3"
)

// TestWriterWALIsCoalesced: the writer's WAL file is coalesced
// (coalesce.WrapSharedWAL: else each envelope costs 2.7 more pwrite calls),
// and it holds nothing between transactions, after a durable submission
// and after a relaxed ack alike: every commit's sync wrote its frames
// before SQLite published them to the readers.
func TestWriterWALIsCoalesced(t *testing.T) {
	ctx := context.Background()
	st, err := Open(ctx, filepath.Join(t.TempDir(), "p.db"), Options{CheckpointInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := st.(*sqlStore)
	wantWALHeld := func(step string) {
		t.Helper()
		conn, err := s.wdbs[0].Conn(ctx) // between the writer's transactions
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		err = conn.Raw(func(dc any) error {
			p, err := dc.(rawConn).Raw().FileControl("main", sqlite3.FCNTL_JOURNAL_POINTER)
			f, ok := p.(*coalesce.File)
			switch {
			case err != nil:
				return err
			case !ok:
				t.Errorf("%s: the WAL file is %T, not coalesced", step, p)
			case f.Held() != 0:
				t.Errorf("%s: the WAL file holds %d bytes unwritten", step, f.Held())
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateUser(ctx, User{ID: "alice", Identity: []byte("identity")}); err != nil {
		t.Fatal(err)
	}
	dev, err := s.AddDevice(ctx, Device{Address: addr.Address{User: "alice"}, Key: []byte("key"), Cert: []byte("cert")})
	if err != nil {
		t.Fatal(err)
	}
	to := addr.Address{User: "alice", Device: dev}
	envs := make([]Envelope, 50)
	for i := range envs {
		envs[i] = Envelope{From: to, To: to, ID: addr.MessageID{byte(i + 1)}, Payload: markerPayload(1 << 10)}
	}
	res, err := s.Submit(ctx, envs)
	if err != nil {
		t.Fatal(err)
	}
	wantWALHeld("after a submission")
	seqs := make([]int64, len(res))
	for i, r := range res {
		seqs[i] = r.Seq
	}
	if n, err := s.Ack(ctx, to, seqs); err != nil || n != len(seqs) {
		t.Fatal(n, err)
	}
	wantWALHeld("after an ack")
}

// TestStoreConnectionsCommitFull: every connection of a SQLite store, the
// writer's and the readers', commits with synchronous=FULL, as
// coalesce.WrapSharedWAL requires of every connection to its files: with
// SQLite's default for WAL (NORMAL) a commit publishes frames that its
// file may still hold unwritten.
func TestStoreConnectionsCommitFull(t *testing.T) {
	ctx := context.Background()
	st, err := Open(ctx, filepath.Join(t.TempDir(), "p.db"), Options{CheckpointInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := st.(*sqlStore)
	for name, db := range map[string]*sql.DB{"writer": s.wdbs[0], "reader": s.rdb} {
		var level int
		if err := db.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&level); err != nil {
			t.Fatal(err)
		}
		if level != 2 {
			t.Errorf("the %s's connection has synchronous = %d, want 2 (FULL)", name, level)
		}
	}
}
