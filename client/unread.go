package client

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"parley.dev/internal/addr"
	"parley.dev/internal/vault"
)

// Unread markers: nothing stored goes unannounced. The messages a receive
// batch stores are marked unread in the same transaction, all in one
// record; a mark goes once an event has handed its message to the app
// (Sync returned it, or Listen's callback returned). Sync and Listen begin
// by reporting the messages still marked: stored just before a crash and
// never reported, whose redelivery is then a duplicate. So a stored
// message is reported at least once; after a crash between the report and
// the clearing it may be reported twice, with the same ID.
//
// A record of nsUnread is either a batch, key "b" and 16 hex digits (the
// batch's order stamp), value an unreadBatch; or, written before batches,
// one message, key unreadKey, value empty. Readers take both.
const nsUnread = "unread"

// unreadBatch is the value of a batch record: the unreadKeys of the
// messages of one receive transaction still to report.
type unreadBatch struct {
	V    int      `json:"v"`
	Keys []string `json:"keys"`
}

func unreadKey(id, conv string) string { return id + "/" + conv }

// isBatchKey tells a batch record's key from a single message's.
func isBatchKey(k string) bool { return !strings.Contains(k, "/") }

// markUnread records, in one record, that the messages named by keys
// (unreadKeys) have not been reported yet.
func (c *Client) markUnread(tx *vault.Tx, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	return putJSON(tx, nsUnread, fmt.Sprintf("b%016x", c.order()), &unreadBatch{V: recordVersion, Keys: keys})
}

// unreadMarks returns the unreadKeys of every mark, by record key.
func unreadMarks(tx *vault.Tx) (map[string][]string, error) {
	recs, err := tx.List(nsUnread)
	if err != nil {
		return nil, err
	}
	marks := make(map[string][]string, len(recs))
	for _, r := range recs {
		if !isBatchKey(r.Key) {
			marks[r.Key] = []string{r.Key}
			continue
		}
		var b unreadBatch
		if err := json.Unmarshal(r.Value, &b); err != nil {
			return nil, fmt.Errorf("client: unread record: %w", err)
		}
		marks[r.Key] = b.Keys
	}
	return marks, nil
}

// clearUnread removes the marks for which drop is true, rewriting or
// deleting the records that held them.
func clearUnread(tx *vault.Tx, drop func(key string) bool) error {
	marks, err := unreadMarks(tx)
	if err != nil {
		return err
	}
	for rk, keys := range marks {
		left := slices.DeleteFunc(slices.Clone(keys), drop)
		switch {
		case len(left) == len(keys):
		case len(left) == 0 || !isBatchKey(rk):
			err = tx.Delete(nsUnread, rk)
		default:
			err = putJSON(tx, nsUnread, rk, &unreadBatch{V: recordVersion, Keys: left})
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// unreadMessage is a message still marked unread, with its conversation.
type unreadMessage struct {
	h    historyRec
	conv addr.UserID
}

// announceUnread reports, oldest first, the stored messages no event has
// reported yet.
func (c *Client) announceUnread() {
	v, err := c.vault()
	if err != nil {
		return
	}
	var found []unreadMessage
	err = v.Update(func(tx *vault.Tx) error {
		found, err = readUnread(tx, c.clock().UnixMilli())
		return err
	})
	if err != nil {
		c.log.Warn("cannot read unread markers", "err", vaultErr(err))
		return
	}
	slices.SortStableFunc(found, func(a, b unreadMessage) int {
		return cmp.Or(cmp.Compare(a.h.Received, b.h.Received), cmp.Compare(a.h.Ord, b.h.Ord))
	})
	for _, u := range found {
		m := u.h.message(u.conv)
		c.emitEvent(Event{Kind: EventMessage, Message: &m})
	}
}

// readUnread returns the messages still marked unread whose timer has not
// run out at now (Unix ms), and clears the marks of messages deleted since.
func readUnread(tx *vault.Tx, now int64) ([]unreadMessage, error) {
	marks, err := unreadMarks(tx)
	if err != nil {
		return nil, err
	}
	var found []unreadMessage
	gone := map[string]bool{}
	for _, keys := range marks {
		for _, k := range keys {
			id, conv, _ := strings.Cut(k, "/")
			var h historyRec
			err := getJSON(tx, historyNS(addr.UserID(conv)), id, &h)
			switch {
			case notFound(err):
				gone[k] = true
			case err != nil:
				return nil, err
			case h.Expires == 0 || h.Expires > now: // else the sweep deletes it
				found = append(found, unreadMessage{h, addr.UserID(conv)})
			}
		}
	}
	if len(gone) > 0 {
		err = clearUnread(tx, func(k string) bool { return gone[k] })
	}
	return found, err
}

// markAnnounced clears the unread markers of the messages in evs, which
// the app has now been handed.
func (c *Client) markAnnounced(evs []Event) {
	done := map[string]bool{}
	for _, e := range evs {
		if e.Kind == EventMessage && e.Message != nil && e.Message.Group == (GroupID{}) {
			done[unreadKey(e.Message.ID.String(), e.Message.Contact)] = true
		}
	}
	if len(done) == 0 {
		return
	}
	v, err := c.vault()
	if err != nil {
		return // closed: reported again next time
	}
	err = v.Update(func(tx *vault.Tx) error {
		return clearUnread(tx, func(k string) bool { return done[k] })
	})
	if err != nil {
		c.log.Warn("cannot clear unread markers; those messages will be reported again", "err", vaultErr(err))
	}
}
