package client

import (
	"slices"
	"strings"

	"parley.dev/internal/addr"
	"parley.dev/internal/vault"
)

// Unread markers: nothing stored goes unannounced. A message receive
// stores is marked unread in the same transaction; the mark goes once an
// event has handed the message to the app (Sync returned it, or Listen's
// callback returned). Sync and Listen begin by reporting the messages
// still marked: stored just before a crash and never reported, whose
// redelivery is then a duplicate. So a stored message is reported at least
// once; after a crash between the report and the clearing it may be
// reported twice, with the same ID.
const nsUnread = "unread" // key: message ID (hex) "/" conversation; value: empty

func unreadKey(id, conv string) string { return id + "/" + conv }

// markUnread records that the message id of conversation conv has not
// been reported yet.
func markUnread(tx *vault.Tx, id string, conv addr.UserID) error {
	return tx.Put(nsUnread, unreadKey(id, string(conv)), nil)
}

// announceUnread reports, oldest first, the stored messages no event has
// reported yet.
func (c *Client) announceUnread() {
	v, err := c.vault()
	if err != nil {
		return
	}
	var evs []Event
	now := c.clock().UnixMilli()
	err = v.Update(func(tx *vault.Tx) error {
		recs, err := tx.List(nsUnread)
		if err != nil {
			return err
		}
		for _, r := range recs {
			id, conv, _ := strings.Cut(r.Key, "/")
			var h historyRec
			err := getJSON(tx, historyNS(addr.UserID(conv)), id, &h)
			if notFound(err) {
				continue
			}
			if err != nil {
				return err
			}
			if h.Expires != 0 && h.Expires <= now {
				continue // past its timer: the sweep deletes it
			}
			m := h.message(addr.UserID(conv))
			evs = append(evs, Event{Kind: EventMessage, Message: &m})
		}
		return nil
	})
	if err != nil {
		c.log.Warn("cannot read unread markers", "err", vaultErr(err))
		return
	}
	slices.SortStableFunc(evs, func(a, b Event) int { return a.Message.Received.Compare(b.Message.Received) })
	for _, e := range evs {
		c.emitEvent(e)
	}
}

// markAnnounced clears the unread markers of the messages in evs, which
// the app has now been handed.
func (c *Client) markAnnounced(evs []Event) {
	var keys []string
	for _, e := range evs {
		if e.Kind == EventMessage && e.Message != nil {
			keys = append(keys, unreadKey(e.Message.ID.String(), e.Message.Contact))
		}
	}
	if len(keys) == 0 {
		return
	}
	v, err := c.vault()
	if err != nil {
		return // closed: reported again next time
	}
	err = v.Update(func(tx *vault.Tx) error {
		for _, k := range keys {
			if err := tx.Delete(nsUnread, k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		c.log.Warn("cannot clear unread markers; those messages will be reported again", "err", vaultErr(err))
	}
}
