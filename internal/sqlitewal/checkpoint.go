// Package sqlitewal bounds how long deleted rows stay in the files of a
// SQLite database in WAL mode. With secure_delete=ON, SQLite overwrites a
// deleted row (and pages it frees) with zeros in the database file, but the
// write-ahead log keeps every page image written since it was last reset,
// including rows as they were before their delete; SQLite's own automatic
// checkpoints never truncate the WAL, and reuse it from the start, so old
// frames past its current end can stay for as long as the file is not
// shortened. A Checkpointer runs PRAGMA wal_checkpoint(TRUNCATE) every
// interval and once more at Close: the zeroed pages reach the database file
// and the WAL is cut to zero bytes. The relay's store (its envelopes) and
// its blob store (its metadata) both use it.
package sqlitewal

import (
	"context"
	"database/sql"
	"log/slog"
	"time"
)

// Timeout bounds one checkpoint. SQLite itself waits up to its busy timeout
// for readers still using the WAL.
const Timeout = 30 * time.Second

// Checkpointer checkpoints one database periodically. Run it on the
// database's write connection (MaxOpenConns 1), so a checkpoint waits for
// the transaction being committed and the next waits for the checkpoint.
// Its zero value is not usable; see Start.
type Checkpointer struct {
	db   *sql.DB
	log  *slog.Logger
	stop chan struct{}
	done chan struct{}
}

// Start checkpoints db now (what a crash left in the WAL), before it
// returns, and every interval until Close (only at Close when every is
// negative). Failures go to log, which must not be nil (give it an
// attribute naming the database).
func Start(db *sql.DB, every time.Duration, log *slog.Logger) *Checkpointer {
	c := &Checkpointer{db: db, log: log, stop: make(chan struct{}), done: make(chan struct{})}
	if every >= 0 {
		c.Checkpoint()
	}
	go c.loop(every)
	return c
}

func (c *Checkpointer) loop(every time.Duration) {
	defer close(c.done)
	if every < 0 {
		<-c.stop
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.Checkpoint()
		}
	}
}

// Close stops the loop and checkpoints a last time: call it once the last
// write has committed, before closing db.
func (c *Checkpointer) Close() {
	close(c.stop)
	<-c.done
	c.Checkpoint()
}

// Checkpoint runs one truncating checkpoint and logs a failure. SQLite
// reports busy when a reader kept it from copying every frame (the WAL is
// then not truncated; the next interval tries again).
func (c *Checkpointer) Checkpoint() {
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	var busy, logFrames, copied int
	err := c.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logFrames, &copied)
	switch {
	case err != nil:
		c.log.Warn("WAL checkpoint failed", "err", err)
	case busy != 0:
		c.log.Warn("WAL checkpoint incomplete; deleted rows may stay in the WAL until the next", "frames", logFrames, "copied", copied)
	}
}
