package vault

// recordQueries are the statements on records of one schema version
// (db.go, migrate.go). Each runs often enough to be prepared once per
// Vault: SQLite parses a statement in about as long as it runs a small
// one, and a burst of records pays that once. The writing statements take
// a record's row (Tx.write): ?1 id, ?2 namespace tag, ?3 sealed value.
type recordQueries struct {
	get, put, add, replace, del string
}

// all returns the statements, for preparing.
func (q *recordQueries) all() []string {
	return []string{q.get, q.put, q.add, q.replace, q.del}
}

// byID is the row with id ?1, found by the index on idPrefix (db.go).
const byID = idPrefix + " = " + idPrefixArg + " AND id = ?1"

// queriesV2 are this version's. Put and Add look the id up and name the
// row it is on, or NULL for a new row (which then takes rid max+1).
var queriesV2 = recordQueries{
	get:     "SELECT val FROM records WHERE " + byID,
	put:     "INSERT INTO records(rid, id, ns, val) VALUES((SELECT rid FROM records WHERE " + byID + "), ?1, ?2, ?3) ON CONFLICT(rid) DO UPDATE SET val = excluded.val",
	add:     "INSERT INTO records(rid, id, ns, val) VALUES((SELECT rid FROM records WHERE " + byID + "), ?1, ?2, ?3) ON CONFLICT(rid) DO NOTHING",
	replace: "UPDATE records SET val = ?3 WHERE " + byID + " AND ns = ?2",
	del:     "DELETE FROM records WHERE " + byID,
}

// queriesV1 are version 1's (a unique index on the whole id), for a
// vault whose migration failed (migrate.go).
var queriesV1 = recordQueries{
	get:     "SELECT val FROM records WHERE id = ?1",
	put:     "INSERT INTO records(id, ns, val) VALUES(?1, ?2, ?3) ON CONFLICT(id) DO UPDATE SET val = excluded.val",
	add:     "INSERT INTO records(id, ns, val) VALUES(?1, ?2, ?3) ON CONFLICT(id) DO NOTHING",
	replace: "UPDATE records SET val = ?3 WHERE id = ?1 AND ns = ?2",
	del:     "DELETE FROM records WHERE id = ?1",
}
