package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"parley.dev/internal/addr"
)

var copyColumns = []string{"to_user", "to_device", "seq", "from_user", "from_device", "msg_id", "kind",
	"created", "expires", "payload", "shared"}

// benchCopy stores envelopes of batch rows per durable transaction with
// COPY on one connection: into envelopes, or (staged) into a temporary
// table and from there into envelopes with the store's ON CONFLICT.
func benchCopy(b *testing.B, dsn string, batch int, staged bool) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	table := "envelopes"
	if staged {
		table = "stage"
		if _, err := conn.Exec(ctx, "CREATE TEMP TABLE stage (LIKE envelopes) ON COMMIT DELETE ROWS"); err != nil {
			b.Fatal(err)
		}
	}
	payload, now, seq := make([]byte, benchPayload), time.Now().UnixMicro(), int64(0)
	cpu := startCPU()
	for b.Loop() {
		rows := make([][]any, batch)
		for i := range rows {
			seq++
			id := addr.NewMessageID()
			rows[i] = []any{fmt.Sprint("u", i%64), int64(1), seq, "sender", int64(1), id[:], int64(1), now, now + 1e9, payload, int64(0)}
		}
		if err := copyBatch(ctx, conn, table, rows, staged); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, int64(b.N)*int64(batch), "envelopes/s")
	cpu.report(b, int64(b.N)*int64(batch), "cpu-µs/envelope")
}

func copyBatch(ctx context.Context, conn *pgx.Conn, table string, rows [][]any, staged bool) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{table}, copyColumns, pgx.CopyFromRows(rows)); err != nil {
		return err
	}
	if staged {
		if _, err := tx.Exec(ctx, `INSERT INTO envelopes SELECT * FROM stage
ON CONFLICT (from_user, from_device, msg_id, to_user, to_device) DO NOTHING`); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}
