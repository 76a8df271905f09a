package store

import (
	"context"
	"strings"
	"testing"

	"parley.dev/internal/addr"
	"parley.dev/internal/pgtest"
)

// TestPostgresWritersUseIndexes: after a queue's worth of envelopes has
// been submitted, delivered and acked (so that most row versions of the
// envelopes and devices tables are dead and the live rows few, as on a
// busy relay between vacuums) and the statistics say so, the writers'
// batch statements still plan index scans, not sequential scans that
// would visit every dead row.
func TestPostgresWritersUseIndexes(t *testing.T) {
	dsn, admin := pgtest.Schema(t)
	ctx := context.Background()
	st, err := Open(ctx, dsn, Options{Writers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := st.(*sqlStore)
	var to []addr.Address
	for _, u := range []string{"alice", "bob", "carol"} {
		id := addr.UserID(u)
		if err := s.CreateUser(ctx, User{ID: id, Identity: []byte("id")}); err != nil {
			t.Fatal(err)
		}
		d, err := s.AddDevice(ctx, Device{Address: addr.Address{User: id}, Key: []byte("k"), Cert: []byte("c")})
		if err != nil {
			t.Fatal(err)
		}
		to = append(to, addr.Address{User: id, Device: d})
	}
	for range 40 {
		envs := make([]Envelope, 0, 3*50)
		for _, a := range to {
			for range 50 {
				envs = append(envs, Envelope{From: to[0], To: a, ID: addr.NewMessageID(), Payload: []byte("p")})
			}
		}
		if _, err := s.Submit(ctx, envs); err != nil {
			t.Fatal(err)
		}
		for _, a := range to {
			pending, err := s.Pending(ctx, a, 0, 1000)
			if err != nil {
				t.Fatal(err)
			}
			seqs := make([]int64, len(pending))
			for i, e := range pending {
				seqs[i] = e.Seq
			}
			if _, err := s.Ack(ctx, a, seqs); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := admin.Exec("ANALYZE envelopes; ANALYZE devices"); err != nil {
		t.Fatal(err)
	}
	args := map[bulkOp][]any{
		bulkLock:   {[]string{"alice", "bob"}, []int64{1, 1}},
		bulkFind:   {[]string{"bob"}, []int64{1}, []string{"alice"}, []int64{1}, [][]byte{make([]byte, 16)}},
		bulkDelete: {[]string{"bob", "bob"}, []int64{1, 1}, []int64{5, 6}},
		bulkSave:   {[]string{"bob"}, []int64{1}, []int64{9}, []int64{1}},
	}
	for op, a := range args {
		rows, err := s.wdbs[0].QueryContext(ctx, "EXPLAIN "+postgresBulk[op], a...)
		if err != nil {
			t.Fatalf("EXPLAIN of bulk op %d: %v", op, err)
		}
		var plan []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, line)
		}
		rows.Close()
		p := strings.Join(plan, "\n")
		if strings.Contains(p, "Seq Scan on envelopes") || strings.Contains(p, "Seq Scan on devices") {
			t.Errorf("bulk op %d plans a sequential scan of a queue table:\n%s", op, p)
		}
	}
}
