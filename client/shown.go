package client

import (
	"parley.dev/internal/addr"
	"parley.dev/internal/vault"
)

// A sent message's history record is not rewritten to say so. The settle
// that records the relay's answers retires the message's outbox item and
// leaves its history record as stored, StatusQueued (flusher.sent): the
// rewrite (a JSON encoding, a seal and an UPDATE per message, and the
// pages written twice) was about a fifth of a burst's CPU. So a status is
// shown as derived from two records, both changed in one transaction:
//
//   - an outgoing record stored as StatusQueued is queued while an outbox
//     item holds its message, and sent once none does;
//   - every other status is shown as stored. Whatever retires an outbox
//     item for another reason (the relay refused every copy, the recipient
//     does not exist, the message cannot be sent) writes that status
//     (StatusFailed) in the same transaction, and a message deleted with
//     its item (the sweep) has no record left to show.
//
// Every reader of 1:1 history that reports a status goes through shownQueue
// (History, Send's and SendMany's outcomes, an attachment's message), so
// it reads the outbox, which every flush reads too. Group history keeps
// the rewrite (groupsend.go). An SDK from before this rule shows such
// messages as queued: a vault is not meant to go back to one.

// shownQueue lists, once per transaction and only when asked, the
// messages the outbox holds.
type shownQueue struct {
	tx  *vault.Tx
	ids map[string]bool
}

// show sets h's status to the one shown.
func (q *shownQueue) show(h *historyRec) error {
	if !h.Outgoing || h.Status != StatusQueued {
		return nil
	}
	if q.ids == nil {
		items, err := listOutbox(q.tx)
		if err != nil {
			return err
		}
		q.ids = make(map[string]bool, len(items))
		for _, it := range items {
			q.ids[it.ID] = true
		}
	}
	if !q.ids[h.ID] {
		h.Status = StatusSent
	}
	return nil
}

// getHistory reads message id of the conversation with conv into h, with
// its status as shown.
func getHistory(tx *vault.Tx, conv addr.UserID, id string, h *historyRec) error {
	if err := getJSON(tx, historyNS(conv), id, h); err != nil {
		return err
	}
	return (&shownQueue{tx: tx}).show(h)
}
