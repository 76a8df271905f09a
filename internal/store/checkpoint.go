package store

import (
	"context"
	"database/sql"
	"log/slog"
	"time"
)

// checkpointTimeout bounds one checkpoint. SQLite itself waits up to its
// busy timeout for readers still using the WAL.
const checkpointTimeout = 30 * time.Second

// checkpointer periodically copies SQLite's WAL into the database file and
// truncates the WAL to zero bytes. With secure_delete the database file
// holds deleted rows only as zeros, but the WAL keeps every page image
// written since it was last reset, including the envelope as it was
// before its ack deleted it; SQLite's own automatic checkpoints never
// truncate it, and reuse it from the start, so old frames past the
// current end could stay for as long as the file is not shortened. Every
// interval, and once more at Close, that copy goes.
//
// It runs on the writer's connection (the only one, MaxOpenConns 1), so a
// checkpoint waits for the batch being committed and the next batch waits
// for the checkpoint. Its zero value is not usable; see startCheckpointer.
type checkpointer struct {
	db   *sql.DB
	log  *slog.Logger
	stop chan struct{}
	done chan struct{}
}

// startCheckpointer checkpoints db now and every interval until close
// (only at close when interval is negative).
func startCheckpointer(db *sql.DB, every time.Duration, log *slog.Logger) *checkpointer {
	c := &checkpointer{db: db, log: log, stop: make(chan struct{}), done: make(chan struct{})}
	go c.loop(every)
	return c
}

func (c *checkpointer) loop(every time.Duration) {
	defer close(c.done)
	if every < 0 {
		<-c.stop
		return
	}
	c.checkpoint() // what a crash left in the WAL
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.checkpoint()
		}
	}
}

// close stops the loop and checkpoints a last time: the writer has
// committed its last batch by now.
func (c *checkpointer) close() {
	close(c.stop)
	<-c.done
	c.checkpoint()
}

// checkpoint runs one truncating checkpoint and logs a failure. SQLite
// reports busy when a reader kept it from copying every frame (the WAL is
// then not truncated; the next interval tries again).
func (c *checkpointer) checkpoint() {
	ctx, cancel := context.WithTimeout(context.Background(), checkpointTimeout)
	defer cancel()
	var busy, logFrames, copied int
	err := c.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logFrames, &copied)
	switch {
	case err != nil:
		c.log.Warn("store: WAL checkpoint failed", "err", err)
	case busy != 0:
		c.log.Warn("store: WAL checkpoint incomplete; deleted envelopes may stay in the WAL until the next", "frames", logFrames, "copied", copied)
	}
}
