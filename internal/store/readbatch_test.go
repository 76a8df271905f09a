package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"testing"

	"parley.dev/internal/addr"
)

// TestPendingBatch checks that one batched read answers each call exactly
// as a read of its own would, envelopes and group entries in Seq order (PostgreSQL; skips when it is unreachable,
// fails under CI=true).
func TestPendingBatch(t *testing.T) {
	base := cmp.Or(os.Getenv("PARLEY_TEST_POSTGRES"), "postgres://127.0.0.1:5432/test")
	admin, err := sql.Open("pgx", base)
	if err == nil {
		err = admin.Ping()
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL is required under CI=true: %v", err)
		}
		t.Skipf("PostgreSQL unreachable: %v", err)
	}
	defer admin.Close()
	schema := "readbatch_" + addr.NewMessageID().String()[:12]
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	defer admin.Exec("DROP SCHEMA " + schema + " CASCADE")
	u, _ := url.Parse(base)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	ctx := context.Background()
	st, err := Open(ctx, u.String(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := st.(*sqlStore)
	var boxes []addr.Address
	for i := range 3 {
		user := addr.UserID(fmt.Sprint("u", i))
		if err := s.CreateUser(ctx, User{ID: user, Identity: []byte("id")}); err != nil {
			t.Fatal(err)
		}
		d, err := s.AddDevice(ctx, Device{Address: addr.Address{User: user}, Key: []byte("k"), Cert: []byte("c")})
		if err != nil {
			t.Fatal(err)
		}
		boxes = append(boxes, addr.Address{User: user, Device: d})
	}
	for i, n := range []int{5, 3, 0} {
		for j := range n {
			e := Envelope{From: boxes[0], To: boxes[i], ID: addr.NewMessageID(), Payload: []byte(fmt.Sprint(i, j))}
			if j%2 == 1 { // group entries interleave with envelopes (group.go)
				e.Kind = KindGroup
			}
			if res, err := s.Submit(ctx, []Envelope{e}); err != nil || res[0].Err != nil {
				t.Fatal(err, res)
			}
		}
	}
	ghost := addr.Address{User: "ghost", Device: 1}
	calls := []*pendingCall{
		{to: boxes[0], after: 0, limit: 2}, {to: boxes[1], after: 1, limit: 10},
		{to: boxes[2], after: 0, limit: 5}, {to: boxes[0], after: 0, limit: 100},
		{to: ghost, after: 0, limit: 1}, {to: boxes[0], after: 3, limit: 1},
	}
	if err := s.reader.batch(calls); err != nil {
		t.Fatal(err)
	}
	if got := calls[3].out; len(got) != 5 || got[1].Kind != KindGroup || string(got[1].Payload) != "0 1" || got[2].Kind != KindMessage {
		t.Fatalf("batched read of a mailbox with group entries: %+v", got)
	}
	for i, c := range calls {
		want, err := s.pendingOne(ctx, c.to, c.after, c.limit)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(c.out, want) {
			t.Errorf("call %d (%v after %d, limit %d): batched %d envelopes, alone %d", i, c.to, c.after, c.limit, len(c.out), len(want))
		}
	}
}
