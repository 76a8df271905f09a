package store

import (
	"context"
	"testing"
)

// TestRawStatementsClosed: a submission and its ack run the writer's raw
// bulk statements, and the store finalizes them before it closes their
// connection (SQLite refuses to close one with statements left, and the
// store's Close would fail).
func TestRawStatementsClosed(t *testing.T) {
	s, w := newSQLiteForTest(t)
	ctx := context.Background()
	alice, bob := testDevice(t, s, "alice"), testDevice(t, s, "bob")
	res, err := s.Submit(ctx, append(testEnvelopes(t, alice, bob), testEnvelopes(t, alice, bob)...))
	if err != nil || res[0].Err != nil || res[1].Err != nil {
		t.Fatalf("submit: %v, %+v", err, res)
	}
	if n, err := s.Ack(ctx, bob, []int64{res[0].Seq, res[1].Seq, res[1].Seq + 1}); err != nil || n != 2 {
		t.Fatalf("ack = %d, %v; want 2", n, err)
	}
	if len(w.raw.m) == 0 {
		t.Fatal("no raw statement ran")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestRawRowScan: raw rows scan as database/sql's would, NULL blobs as
// nil and empty ones as empty.
func TestRawRowScan(t *testing.T) {
	_, w := newSQLiteForTest(t)
	err := w.do(context.Background(), false, 1, func(tx *txn) error {
		var s string
		var n int64
		var null, empty, blob []byte
		_, err := tx.rawRun(`SELECT ?1, ?2, NULL, x'', ?3`, []any{"text", int64(7), []byte{1, 2}}, func(r rowScanner) error {
			return r.Scan(&s, &n, &null, &empty, &blob)
		})
		if err != nil {
			return err
		}
		if s != "text" || n != 7 || null != nil || empty == nil || len(empty) != 0 || string(blob) != "\x01\x02" {
			t.Errorf("scanned %q, %d, %v, %v, %v", s, n, null, empty, blob)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
