package client_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"parley.dev/client"
	"parley.dev/internal/audit"
	"parley.dev/internal/pgtest"
	"parley.dev/internal/push"
	"parley.dev/server"
	"parley.dev/server/servertest"
)

// TestDeleteAccount: a user who deletes the account leaves nothing of it
// at the relay but the audit entry that it happened, on either store:
// every table and every file of the relay is listed before the user
// existed and after the deletion, and they match, but for the audit log
// (which gains the user's entries, the last of them the deletion) and its
// head, the nonces of spent challenges (no user in them), the other
// user's one-time prekeys (one handed to the deleted user) and his device
// row (its mailbox counters moved). The device's vault
// is gone from disk.
func TestDeleteAccount(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testDeleteAccount(t, nil) })
	t.Run("postgres", func(t *testing.T) {
		dsn, db := pgtest.Schema(t)
		testDeleteAccount(t, db, func(s *server.Server) { s.StoreDSN = dsn })
	})
}

func testDeleteAccount(t *testing.T, pg *sql.DB, configure ...func(*server.Server)) {
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) }))
	defer gw.Close()
	secret := []byte(strings.Repeat("s", push.MinSecret))
	r := startRelay(t, append(configure, func(s *server.Server) { s.PushGateway, s.PushSecret = gw.URL, secret })...)
	ctx := context.Background()
	bob := register(t, r, "bob")
	bob.Close() // bob stays away: his rows stay as they are

	before := relayState(t, r, pg)
	alice := register(t, r, "alice")
	if err := alice.SetFactors(ctx, testPIN, client.FactorOptions{Relay: true}); err != nil {
		t.Fatal(err)
	}
	if err := alice.RegisterPush(ctx, client.PushFCM, "alice-token"); err != nil {
		t.Fatal(err)
	}
	send(t, alice, "bob", "waits for bob")
	if _, err := alice.SendFileFrom(ctx, "bob", bytes.NewReader(bytes.Repeat([]byte("a"), 5000)), client.FileOptions{Name: "a.txt"}); err != nil {
		t.Fatal(err)
	}
	home := alice.Home
	during := relayState(t, r, pg)
	if n := mentions(during, "alice"); n < 5 {
		t.Fatalf("only %d rows mention alice before the deletion: the test sees nothing", n)
	}

	if err := alice.DeleteAccount(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(home); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the vault's directory survived: %v", err)
	}
	if _, err := alice.Send(ctx, "bob", "x"); !errors.Is(err, client.ErrNotOpen) {
		t.Errorf("Send after DeleteAccount: %v, want ErrNotOpen", err)
	}
	after := relayState(t, r, pg)
	compareErased(t, before, after, "alice")
}

// compareErased checks after against before, table by table and file by
// file, as the test's comment says.
func compareErased(t *testing.T, before, after map[string][]string, user string) {
	t.Helper()
	for name := range mergeKeys(before, after) {
		b, a := before[name], after[name]
		switch {
		case strings.HasSuffix(name, "audit_log"):
			added := a[len(b):]
			if !slices.Equal(a[:len(b)], b) || len(added) == 0 || !strings.Contains(added[len(added)-1], string(audit.UserDelete)) {
				t.Errorf("%s: the log is not the old one plus the user's entries ending in the deletion:\n%q", name, added)
			}
		case strings.HasSuffix(name, "used_challenges"), strings.HasSuffix(name, "audit_head"):
		case strings.HasSuffix(name, "one_time_prekeys"), strings.HasSuffix(name, ":devices"):
			if n := mentions(map[string][]string{name: a}, user); n != 0 || len(a) > len(b) {
				t.Errorf("%s: %d rows of %s remain (%d rows, %d before)", name, n, user, len(a), len(b))
			}
		case !slices.Equal(b, a):
			t.Errorf("%s differs after the deletion:\nbefore %q\nafter  %q", name, b, a)
		}
	}
}

func mergeKeys(ms ...map[string][]string) map[string]bool {
	out := map[string]bool{}
	for _, m := range ms {
		for k := range m {
			out[k] = true
		}
	}
	return out
}

func mentions(state map[string][]string, s string) int {
	n := 0
	for _, rows := range state {
		for _, row := range rows {
			if strings.Contains(row, s) {
				n++
			}
		}
	}
	return n
}

// relayState lists the relay's data: every row of every table of its
// stores ("table:NAME" to rows, sorted, audit_log in order), and every
// file under its data directory ("file:PATH" to its size) but the SQLite
// databases, whose rows are listed instead.
func relayState(t *testing.T, r *servertest.Relay, pg *sql.DB) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	if pg != nil {
		dumpTables(t, pg, `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`, "pg", out)
	}
	err := filepath.WalkDir(r.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(r.Dir, p)
		switch {
		case strings.HasSuffix(p, ".db"):
			db, err := sql.Open("sqlite3", "file:"+p+"?mode=ro")
			if err != nil {
				return err
			}
			defer db.Close()
			dumpTables(t, db, `SELECT name FROM sqlite_master WHERE type = 'table'`, rel, out)
		case strings.Contains(p, ".db-"): // WAL and shared memory: the tables list their content
		default:
			info, err := d.Info()
			if err != nil {
				return err
			}
			out["file:"+rel] = []string{fmt.Sprint(info.Size())}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func dumpTables(t *testing.T, db *sql.DB, list, prefix string, out map[string][]string) {
	t.Helper()
	names := queryStrings(t, db, list)
	for _, name := range names {
		order := ""
		if name == "audit_log" {
			order = " ORDER BY seq"
		}
		rows := queryRows(t, db, `SELECT * FROM "`+name+`"`+order)
		if order == "" {
			slices.Sort(rows)
		}
		out["table:"+prefix+":"+name] = rows
	}
}

func queryStrings(t *testing.T, db *sql.DB, q string) []string {
	t.Helper()
	var out []string
	for _, row := range queryRows(t, db, q) {
		out = append(out, strings.Trim(row, "[]"))
	}
	return out
}

// queryRows returns each row of q's result as text, byte columns as
// strings, so that a user ID shows whatever its column's type.
func queryRows(t *testing.T, db *sql.DB, q string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				vals[i] = string(b)
			}
		}
		out = append(out, fmt.Sprint(vals))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
