package vault

import "context"

// Deletion on disk. With secure_delete a deleted record's cell is
// overwritten in its page, but an earlier image of that page may still
// sit in the write-ahead log (until SQLite reuses the frame), where
// anyone who later holds the data key could read it. Compact copies the
// log back into the database and truncates it to nothing, then rebuilds
// the database (VACUUM), so that no page image of a deleted record is
// left in the vault's files. It costs a rewrite of the whole database:
// run it after deletions that matter (disappearing messages), not after
// every write.

// Compact makes deleted records unrecoverable from the vault's files:
// it checkpoints and truncates the write-ahead log, rebuilds the
// database, and truncates the log again. Flash storage may keep old
// blocks below the file system; see docs/threat-model.md.
func (v *Vault) Compact(ctx context.Context) error {
	v.closeMu.RLock()
	defer v.closeMu.RUnlock()
	if v.closed {
		return ErrClosed
	}
	for _, q := range []string{"PRAGMA wal_checkpoint(TRUNCATE)", "VACUUM", "PRAGMA wal_checkpoint(TRUNCATE)"} {
		if _, err := v.db.ExecContext(ctx, q); err != nil {
			return dbErr("compacting", err)
		}
	}
	return nil
}
