package store

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"parley.dev/internal/addr"
	"parley.dev/internal/benchcap"
)

// Benchmarks of the SQLite store with 1 KiB envelopes. Each reports
// envelopes/s (or pairs/s) so that figures compare with the brief's aims;
// see BENCHMARKS.md for the commands and results.

const benchPayload = 1024

// benchStore opens a fresh SQLite store in b's temp dir with n
// recipients.
func benchStore(b *testing.B, opt Options, n int) (Store, addr.Address, []addr.Address) {
	b.Helper()
	return benchOpen(b, filepath.Join(b.TempDir(), "bench.db"), opt, n)
}

// benchOpen opens dsn and creates a sender and n recipients.
func benchOpen(b *testing.B, dsn string, opt Options, n int) (Store, addr.Address, []addr.Address) {
	b.Helper()
	opt.MailboxCap = 1 << 30
	s, err := Open(context.Background(), dsn, opt)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	ctx := context.Background()
	mk := func(u addr.UserID) addr.Address {
		if err := s.CreateUser(ctx, User{ID: u, Identity: []byte("identity")}); err != nil {
			b.Fatal(err)
		}
		d, err := s.AddDevice(ctx, Device{Address: addr.Address{User: u}, Key: []byte("key"), Cert: []byte("cert")})
		if err != nil {
			b.Fatal(err)
		}
		return addr.Address{User: u, Device: d}
	}
	from := mk("sender")
	var to []addr.Address
	for i := range n {
		to = append(to, mk(addr.UserID(fmt.Sprint("r", i))))
	}
	return s, from, to
}

func benchEnvelope(from, to addr.Address) Envelope {
	return Envelope{From: from, To: to, ID: addr.NewMessageID(), Payload: make([]byte, benchPayload)}
}

func reportRate(b *testing.B, n int64, unit string) {
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), unit)
}

// cpuMeter reports the process CPU time per item: on a shared machine it
// varies far less than throughput does. With serverCPU set (PostgreSQL
// benchmarks), it also reports the database server's CPU time per item.
type cpuMeter struct{ start, server time.Duration }

// serverCPU, when set, returns the CPU time used so far by the database
// server processes serving the benchmark's store.
var serverCPU func() time.Duration

func startCPU() cpuMeter {
	m := cpuMeter{start: processCPU()}
	if serverCPU != nil {
		m.server = serverCPU()
	}
	return m
}

// reportBatch reports the writer's mean ops per transaction.
func reportBatch(b *testing.B, s Store) {
	if c, ops := s.(*sqlStore).w.stats(); c > 0 {
		b.ReportMetric(float64(ops)/float64(c), "ops/commit")
	}
}

func (m cpuMeter) report(b *testing.B, n int64, unit string) {
	b.ReportMetric(float64((processCPU()-m.start).Microseconds())/float64(n), unit)
	if serverCPU != nil {
		b.ReportMetric(float64((serverCPU()-m.server).Microseconds())/float64(n), "db-"+unit)
	}
}

// backendCPU sums the CPU time of the PostgreSQL backends whose
// application_name is app (the server runs on this machine; Linux only).
func backendCPU(admin *sql.DB, app string) time.Duration {
	rows, err := admin.Query(`SELECT pid FROM pg_stat_activity WHERE application_name = $1`, app)
	if err != nil {
		return 0
	}
	defer rows.Close()
	var total time.Duration
	for rows.Next() {
		var pid int
		if rows.Scan(&pid) == nil {
			total += pidCPU(pid)
		}
	}
	return total
}

// pidCPU reads a process's user + system time from /proc.
func pidCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the parenthesised command: state is field 3, utime 14, stime 15.
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

// benchVariants are the SQLite settings compared: the defaults, SQLite's
// own checkpoint interval, secure_delete FAST and OFF, and a truncating
// checkpoint every second instead of every minute.
var benchVariants = []struct {
	name string
	opt  Options
}{
	{"default", Options{}},
	{"checkpoint1000", Options{WALAutocheckpoint: 1000}},
	{"insecureDelete", Options{secureDelete: "OFF"}},
	{"secureDeleteFast", Options{secureDelete: "FAST"}},
	{"truncate1s", Options{CheckpointInterval: time.Second}},
}

// BenchmarkSubmit measures durable inserts: one envelope per Submit, from
// one goroutine and from 64 at once (group commit).
func BenchmarkSubmit(b *testing.B) {
	for _, v := range benchVariants[:2] {
		b.Run(v.name+"/sequential", func(b *testing.B) {
			s, from, to := benchStore(b, v.opt, 1)
			ctx := context.Background()
			cpu := startCPU()
			for b.Loop() {
				if res, err := s.Submit(ctx, []Envelope{benchEnvelope(from, to[0])}); err != nil || res[0].Err != nil {
					b.Fatal(err, res)
				}
			}
			reportRate(b, int64(b.N), "envelopes/s")
			cpu.report(b, int64(b.N), "cpu-µs/envelope")
		})
		b.Run(v.name+"/concurrent64", func(b *testing.B) {
			s, from, to := benchStore(b, v.opt, 64)
			concurrentSubmit(b, s, from, to, 64)
		})
	}
}

// concurrentSubmit has callers goroutines submit one envelope per call,
// each to its own recipient.
func concurrentSubmit(b *testing.B, s Store, from addr.Address, to []addr.Address, callers int) {
	ctx := context.Background()
	var next atomic.Int64
	b.SetParallelism(max(1, callers/runtime.GOMAXPROCS(0)))
	cpu := startCPU()
	b.RunParallel(func(pb *testing.PB) {
		me := to[int(next.Add(1)-1)%len(to)]
		for pb.Next() {
			if res, err := s.Submit(ctx, []Envelope{benchEnvelope(from, me)}); err != nil || res[0].Err != nil {
				b.Error(err, res)
				return
			}
		}
	})
	reportRate(b, int64(b.N), "envelopes/s")
	cpu.report(b, int64(b.N), "cpu-µs/envelope")
	reportBatch(b, s)
}

// BenchmarkSubmitAck measures durable insert + delete pairs from 64
// concurrent clients: each submits an envelope and acks it.
func BenchmarkSubmitAck(b *testing.B) {
	for _, v := range benchVariants {
		b.Run(v.name, func(b *testing.B) {
			s, from, to := benchStore(b, v.opt, 64)
			submitAck(b, s, from, to, 64)
		})
	}
}

func submitAck(b *testing.B, s Store, from addr.Address, to []addr.Address, callers int) {
	ctx := context.Background()
	var next atomic.Int64
	b.SetParallelism(max(1, callers/runtime.GOMAXPROCS(0)))
	cpu := startCPU()
	b.RunParallel(func(pb *testing.PB) {
		me := to[int(next.Add(1)-1)%len(to)]
		for pb.Next() {
			res, err := s.Submit(ctx, []Envelope{benchEnvelope(from, me)})
			if err != nil || res[0].Err != nil {
				b.Error(err, res)
				return
			}
			if n, err := s.Ack(ctx, me, []int64{res[0].Seq}); err != nil || n != 1 {
				b.Error(n, err)
				return
			}
		}
	})
	reportRate(b, int64(b.N), "pairs/s")
	cpu.report(b, int64(b.N), "cpu-µs/pair")
	reportBatch(b, s)
}

// BenchmarkCycle measures fully cycled envelopes from 64 concurrent
// clients: each submits an envelope (durably), reads it back with Pending
// as the relay's delivery does, and acks it.
func BenchmarkCycle(b *testing.B) {
	for _, v := range benchVariants {
		b.Run(v.name, func(b *testing.B) {
			s, from, to := benchStore(b, v.opt, 64)
			cycle(b, s, from, to, 64)
		})
	}
}

func cycle(b *testing.B, s Store, from addr.Address, to []addr.Address, callers int) {
	ctx := context.Background()
	var next atomic.Int64
	b.SetParallelism(max(1, callers/runtime.GOMAXPROCS(0)))
	cpu := startCPU()
	b.RunParallel(func(pb *testing.PB) {
		me := to[int(next.Add(1)-1)%len(to)]
		var after int64
		for pb.Next() {
			res, err := s.Submit(ctx, []Envelope{benchEnvelope(from, me)})
			if err != nil || res[0].Err != nil {
				b.Error(err, res)
				return
			}
			envs, err := s.Pending(ctx, me, after, 256)
			if err != nil || len(envs) != 1 || envs[0].Seq != res[0].Seq {
				b.Error("pending:", len(envs), err)
				return
			}
			after = envs[0].Seq
			if n, err := s.Ack(ctx, me, []int64{after}); err != nil || n != 1 {
				b.Error(n, err)
				return
			}
		}
	})
	reportRate(b, int64(b.N), "envelopes/s")
	cpu.report(b, int64(b.N), "cpu-µs/envelope")
	reportBatch(b, s)
}

// BenchmarkPending drains 10,000 queued envelopes from one mailbox in
// pages of benchPage: reading only, and reading and acking each page (the
// mailbox is refilled, untimed, before each drain).
func BenchmarkPending(b *testing.B) {
	const queued, benchPage = 10000, 500
	benchcap.Runs(b, 20)
	b.Run("read", func(b *testing.B) {
		s, from, to := benchStore(b, Options{}, 1)
		fill(b, s, from, to[0], queued)
		cpu := startCPU()
		for b.Loop() {
			if n := drain(b, s, to[0], benchPage, false); n != queued {
				b.Fatalf("drained %d", n)
			}
		}
		reportRate(b, int64(b.N)*queued, "envelopes/s")
		cpu.report(b, int64(b.N)*queued, "cpu-µs/envelope")
	})
	b.Run("readAck", func(b *testing.B) {
		s, from, to := benchStore(b, Options{}, 1)
		var drained int64
		var busy time.Duration
		for range b.N {
			fill(b, s, from, to[0], queued)
			start := time.Now()
			drained += int64(drain(b, s, to[0], benchPage, true))
			busy += time.Since(start)
		}
		b.ReportMetric(float64(drained)/busy.Seconds(), "envelopes/s")
		b.ReportMetric(busy.Seconds()*1000/float64(b.N), "ms/drain")
	})
}

// BenchmarkPendingWake is the relay's commonest read: a wake-up reading a
// mailbox that holds one envelope, with a window-sized limit.
func BenchmarkPendingWake(b *testing.B) {
	const window = 256
	s, from, to := benchStore(b, Options{}, 1)
	fill(b, s, from, to[0], 1)
	ctx := context.Background()
	cpu := startCPU()
	for b.Loop() {
		if envs, err := s.Pending(ctx, to[0], 0, window); err != nil || len(envs) != 1 {
			b.Fatal(len(envs), err)
		}
	}
	reportRate(b, int64(b.N), "reads/s")
	cpu.report(b, int64(b.N), "cpu-µs/read")
}

func fill(b *testing.B, s Store, from, to addr.Address, n int) {
	b.Helper()
	ctx := context.Background()
	for n > 0 {
		batch := make([]Envelope, min(n, MaxBatch))
		for i := range batch {
			batch[i] = benchEnvelope(from, to)
		}
		if _, err := s.Submit(ctx, batch); err != nil {
			b.Fatal(err)
		}
		n -= len(batch)
	}
}

// drain reads a whole mailbox page by page, acking each page if ack.
func drain(b *testing.B, s Store, to addr.Address, page int, ack bool) int {
	b.Helper()
	ctx := context.Background()
	var after int64
	n := 0
	for {
		envs, err := s.Pending(ctx, to, after, page)
		if err != nil {
			b.Fatal(err)
		}
		if len(envs) == 0 {
			return n
		}
		n += len(envs)
		after = envs[len(envs)-1].Seq
		if ack {
			seqs := make([]int64, len(envs))
			for i, e := range envs {
				seqs[i] = e.Seq
			}
			if _, err := s.Ack(ctx, to, seqs); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkRawInsert is the floor under BenchmarkSubmit: the same schema
// and settings, envelopes inserted by one goroutine in transactions of 32
// with prepared statements, and none of the store's logic (no mailbox
// counters, no duplicate check, no queue). "plain" is a table with no
// index at all, for the driver's own ceiling.
func BenchmarkRawInsert(b *testing.B) {
	const batch = 32
	for _, tc := range []struct{ name, ddl, insert string }{
		{"schema", "", `INSERT INTO envelopes (to_user, to_device, seq, from_user, from_device, msg_id, kind, created, expires, payload)
VALUES ($1, 1, $2, 'sender', 1, $3, 1, $4, $5, $6)`},
		{"plain", "CREATE TABLE plain (payload BYTEA NOT NULL)", `INSERT INTO plain (payload) VALUES ($6)`},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s, _, to := benchStore(b, Options{}, 64)
			db := s.(*sqlStore).wdbs[0]
			ctx := context.Background()
			if tc.ddl != "" {
				if _, err := db.ExecContext(ctx, tc.ddl); err != nil {
					b.Fatal(err)
				}
			}
			st, err := db.PrepareContext(ctx, sqliteDialect.rebind(tc.insert))
			if err != nil {
				b.Fatal(err)
			}
			payload, now := make([]byte, benchPayload), time.Now().UnixMicro()
			cpu := startCPU()
			seq := 0
			for b.Loop() {
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					b.Fatal(err)
				}
				txs := tx.StmtContext(ctx, st)
				for range batch {
					seq++
					id := addr.NewMessageID()
					if _, err := txs.ExecContext(ctx, string(to[seq%len(to)].User), seq, id[:], now, now+1e9, payload); err != nil {
						b.Fatal(err)
					}
				}
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
			}
			reportRate(b, int64(b.N)*batch, "envelopes/s")
			cpu.report(b, int64(b.N)*batch, "cpu-µs/envelope")
		})
	}
}

// BenchmarkPostgres runs the concurrent benchmarks on PostgreSQL
// (PARLEY_TEST_POSTGRES, default postgres://127.0.0.1:5432/test), each in
// a fresh schema, with one writer connection and with the default; it
// skips when the server is unreachable. cpu-µs counts this process only,
// not the PostgreSQL server's.
func BenchmarkPostgres(b *testing.B) {
	base := cmp.Or(os.Getenv("PARLEY_TEST_POSTGRES"), "postgres://127.0.0.1:5432/test")
	admin, err := sql.Open("pgx", base)
	if err == nil {
		err = admin.Ping()
	}
	if err != nil {
		b.Skipf("PostgreSQL unreachable: %v", err)
	}
	defer admin.Close()
	var dsn string // the schema open made last
	open := func(b *testing.B, opt Options, n int) (Store, addr.Address, []addr.Address) {
		schema := fmt.Sprintf("bench_%x", addr.NewMessageID().String()[:12])
		if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { admin.Exec("DROP SCHEMA " + schema + " CASCADE") })
		u, _ := url.Parse(base)
		q := u.Query()
		q.Set("search_path", schema)
		q.Set("application_name", schema)
		u.RawQuery = q.Encode()
		serverCPU = func() time.Duration { return backendCPU(admin, schema) }
		b.Cleanup(func() { serverCPU = nil })
		dsn = u.String()
		return benchOpen(b, dsn, opt, n)
	}
	// One writer and the default with the SQLite benchmarks' 64 callers,
	// 4 writers with 256 callers (the relay's load: 64-256 senders), and
	// the default with 512, each caller to its own mailbox. A writer's
	// batch holds what is waiting when its last commit ends, so the
	// envelopes per commit, and with them the cost per envelope, grow
	// with the submissions in flight: 512 is where the PostgreSQL aims
	// (issue 11) are met.
	for _, c := range []struct{ writers, callers int }{{1, 64}, {defaultWriters, 64}, {4, 256}, {defaultWriters, 512}} {
		opt := Options{Writers: c.writers}
		name := fmt.Sprintf("writers%d/callers%d/", c.writers, c.callers)
		b.Run(name+"Submit", func(b *testing.B) {
			s, from, to := open(b, opt, c.callers)
			concurrentSubmit(b, s, from, to, c.callers)
		})
		b.Run(name+"SubmitAck", func(b *testing.B) {
			s, from, to := open(b, opt, c.callers)
			submitAck(b, s, from, to, c.callers)
		})
		b.Run(name+"Cycle", func(b *testing.B) {
			s, from, to := open(b, opt, c.callers)
			cycle(b, s, from, to, c.callers)
		})
	}
	// The floor: the store's own bulk insert statement on its schema, run
	// back to back by one connection in durable transactions of 64 rows,
	// with none of the store's logic.
	b.Run("RawInsert64", func(b *testing.B) {
		s, _, to := open(b, Options{Writers: 1}, 64)
		db := s.(*sqlStore).wdbs[0]
		payload, now := make([]byte, benchPayload), time.Now().UnixMicro()
		const batch = 64
		cpu := startCPU()
		seq := int64(0)
		for b.Loop() {
			rows := make([][]any, batch)
			for i := range rows {
				seq++
				id := addr.NewMessageID()
				rows[i] = []any{string(to[i].User), int64(to[i].Device), seq, "sender", int64(1), id[:], int64(1), now, now + 1e9, payload, int64(0)}
			}
			tx, err := db.Begin()
			if err != nil {
				b.Fatal(err)
			}
			if _, err := tx.Exec(postgresBulk[bulkInsert], columns(rows)...); err != nil {
				b.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
		}
		reportRate(b, int64(b.N)*batch, "envelopes/s")
		cpu.report(b, int64(b.N)*batch, "cpu-µs/envelope")
	})
	// The lever beyond it: COPY (pgx's binary copy protocol), straight
	// into envelopes, or into a temporary table and from there with the
	// store's ON CONFLICT (idempotent, as Submit must be).
	for _, c := range []struct {
		batch  int
		staged bool
	}{{64, false}, {256, false}, {64, true}, {256, true}} {
		name := fmt.Sprintf("Copy%d", c.batch)
		if c.staged {
			name = fmt.Sprintf("CopyStaged%d", c.batch)
		}
		b.Run(name, func(b *testing.B) {
			open(b, Options{Writers: 1}, 1)
			benchCopy(b, dsn, c.batch, c.staged)
		})
	}
}
