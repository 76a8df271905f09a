package private

import (
	"fmt"
	"strings"
)

// sqliteFiles are the suffixes of the files SQLite keeps beside a WAL
// database while it is open.
var sqliteFiles = []string{"", "-wal", "-shm"}

// SQLite makes a SQLite database at path private and returns the name to
// open it by. It creates the database, its WAL and its shared-memory file
// with mode 0600 before SQLite opens them (SQLite would create them 0644
// under the usual umask), tightening existing ones, and names the
// database as a URI whose modeof parameter makes SQLite give any file it
// creates anew (the WAL of a fresh database, which it deletes and creates
// again; a rollback journal) the database's mode. SQLite deletes the WAL
// and shared-memory file only when its last connection closes; the next
// call creates them here again. A path that is already a "file:" URI is
// returned unchanged, and nothing is created.
func SQLite(path string) (string, error) {
	if strings.HasPrefix(path, "file:") {
		return path, nil
	}
	for _, suffix := range sqliteFiles {
		if err := Touch(path + suffix); err != nil {
			return "", err
		}
	}
	p := uriEscape(path)
	return "file:" + p + "?modeof=" + p, nil
}

// uriEscape percent-encodes every byte of s but unreserved characters and
// '/', as SQLite's URI filenames decode them (it does not read '+' as a
// space).
func uriEscape(s string) string {
	var b strings.Builder
	for i := range len(s) {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~/", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
