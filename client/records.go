package client

// The vault layout: every record this package keeps, by namespace. All of
// them are sealed by internal/vault; nothing else is written to disk.
// docs/architecture.md ("Client SDK") describes the same table.
//
//	namespace  key                 value
//	account    "identity"          identity secret (keys encoding)
//	account    "device"            device secret (keys encoding)
//	account    "profile"           profileRec (JSON): address, relay URL, CA, pins
//	account    "prekeys"           preKeyMeta (JSON): IDs, rotation times, pending uploads
//	account    "link"              a pending device link's X25519 secret
//	prekeys    "spk/N" "otk/N" "kem/N"   prekey secrets (keys encodings)
//	contacts   user ID             contactRec (JSON): identity, verified, pending identity
//	sessions   "user/device"       session list (binary, see marshalSessions)
//	firstmsgs  "user/device"       first messages accepted from that device (firstmsgs.go)
//	outbox     "TTTTTTTTTTTTTTTT-ID"  outboxItem (JSON), in enqueue order
//	h/HASH     message ID (hex)    historyRec (JSON); one namespace per contact
//	uploads    message ID (hex)    uploadRec (JSON): an attachment on its way to the relay
//	attachments message ID (hex)   attachRec (JSON): an attachment's pointer, key and state
//	(vault file) "att/" + message ID   the attachment's plaintext, in the vault's file area
//	copies     message ID (hex)    conversation (user ID) of a copy from another own device
//	unread     "ID/user"           empty: a stored message not yet reported (unread.go)
//	timers     user ID             timerRec (JSON): the conversation's disappearing timer (timers.go)
//	expiry     "TTTTTTTTTTTTTTTT-ID"  conversation (user ID) of a timed message, by deadline (sweep.go)

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"parley.dev/client/internal/content"
	"parley.dev/internal/addr"
	"parley.dev/internal/vault"
)

// Namespaces and fixed keys.
const (
	nsAccount  = "account"
	nsPreKeys  = "prekeys"
	nsContacts = "contacts"
	nsSessions = "sessions"
	nsOutbox   = "outbox"
	// nsCopies indexes the copies received from this user's other
	// devices (message ID -> conversation), to tell their duplicates.
	nsCopies = "copies"
	// nsHistoryPrefix starts each contact's history namespace; the rest is
	// a hash of the user ID, because a namespace holds at most 64 bytes.
	nsHistoryPrefix = "h/"

	keyIdentity = "identity"
	keyDevice   = "device"
	keyProfile  = "profile"
	keyPreKeys  = "prekeys"
	keyLink     = "link"
)

// recordVersion is the "v" of every JSON record.
const recordVersion = 1

// historyNS returns the history namespace of the conversation with user.
func historyNS(user addr.UserID) string {
	sum := sha256.Sum256([]byte("parley.dev/client/v1 history\x00" + string(user)))
	return nsHistoryPrefix + base64.RawURLEncoding.EncodeToString(sum[:18])
}

// profileRec is who this device is and which relay it uses.
type profileRec struct {
	V      int      `json:"v"`
	User   string   `json:"user"`
	Device uint32   `json:"device"` // 0 until the relay answered
	Server string   `json:"server"`
	CA     []byte   `json:"ca,omitempty"` // PEM
	Pins   []string `json:"pins,omitempty"`
}

func (p *profileRec) address() addr.Address {
	return addr.Address{User: addr.UserID(p.User), Device: addr.DeviceID(p.Device)}
}

// contactRec is what this device knows of another user.
type contactRec struct {
	V int `json:"v"`
	// Identity is the accepted identity (keys encoding): first seen, or
	// accepted since.
	Identity []byte `json:"identity"`
	Verified bool   `json:"verified,omitempty"`
	// Pending is a different identity seen while Verified: sending is
	// held until it is accepted.
	Pending []byte `json:"pending,omitempty"`
}

// historyRec is one message of a conversation.
type historyRec struct {
	V        int    `json:"v"`
	ID       string `json:"id"`
	Outgoing bool   `json:"out,omitempty"`
	Text     string `json:"text"`
	Sent     int64  `json:"sent"` // Unix ms
	Received int64  `json:"recv"` // Unix ms
	// Status as stored: an outgoing message stays StatusQueued once
	// sent, which its outbox item's absence tells (shown.go).
	Status      Status `json:"status"`
	NewIdentity bool   `json:"newid,omitempty"`
	// Att describes an attachment (its key and location are in the
	// attachments namespace).
	Att *Attachment `json:"att,omitempty"`
	// Expires is when the disappearing timer deletes the message (Unix
	// ms; 0: kept). nsExpiry indexes it.
	Expires int64 `json:"exp,omitempty"`
	// Ord orders records stored in the same millisecond: the order in
	// which this device stored them (Client.order). 0 in records from
	// before it existed.
	Ord int64 `json:"ord,omitempty"`
}

func (h *historyRec) message(contact addr.UserID) Message {
	id, _ := addr.ParseMessageID(h.ID)
	return Message{ID: MessageID(id), Contact: string(contact), Outgoing: h.Outgoing, Text: h.Text,
		Sent: time.UnixMilli(h.Sent), Received: time.UnixMilli(h.Received), Status: h.Status,
		NewIdentity: h.NewIdentity, Attachment: h.Att, Expires: msTimeOrZero(h.Expires)}
}

// outboxItem is one message waiting for the relay. Until it is encrypted
// Ready is nil; then Ready holds one envelope per device, sealed under
// session states already saved, and is resubmitted as is (never
// re-encrypted) until the relay has answered for each.
type outboxItem struct {
	V     int             `json:"v"`
	ID    string          `json:"id"`
	To    string          `json:"to"`
	Text  string          `json:"text"`
	Sent  int64           `json:"sent"` // Unix ms
	Ready []readyEnvelope `json:"ready,omitempty"`
	// Att is the attachment an attachment message points to.
	Att *content.Attachment `json:"att,omitempty"`
	// Stored counts the recipient's devices whose copy the relay stored;
	// none when every envelope is answered means the message failed.
	Stored int `json:"stored,omitempty"`
	// Timer is the disappearing timer the message carries, in seconds
	// (0: none); its envelopes' TTL at the relay.
	Timer int64 `json:"timer,omitempty"`
	// SetTimer makes the item a timer change (seconds; 0 turns it off)
	// rather than a text; it has no history record.
	SetTimer *int64 `json:"settimer,omitempty"`
	// Burst makes the record a sealed burst's (outboxburst.go): its items,
	// in order; the record's other fields are unset.
	Burst []*outboxItem `json:"burst,omitempty"`

	key   string       // the record key, not stored
	burst *outboxBurst // the burst record holding the item, or nil
}

// readyEnvelope is one encrypted copy for one device.
type readyEnvelope struct {
	To      string `json:"to"` // "user/device"
	Payload []byte `json:"payload"`
	// Shared is set only in a stored burst record (outboxburst.go): the
	// payload's first Shared bytes are those of the record's first
	// envelope to the same device, and Payload holds the rest.
	Shared int `json:"shared,omitempty"`
}

// outboxKey orders items by enqueue time, then ID.
func outboxKey(sent time.Time, id addr.MessageID) string {
	return fmt.Sprintf("%016x-%s", uint64(sent.UnixNano()), id)
}

// msTimeOrZero is ms as a time, or the zero time for 0.
func msTimeOrZero(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// getJSON reads a JSON record into v.
func getJSON(tx *vault.Tx, ns, key string, v any) error {
	b, err := tx.Get(ns, key)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("client: record %s/%s: %w", ns, key, err)
	}
	return nil
}

// putJSON stores v as a JSON record.
func putJSON(tx *vault.Tx, ns, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return tx.Put(ns, key, b)
}

// addJSON stores v as JSON under (ns, key) unless a record is there
// already, and reports whether it stored it (vault.Tx.Add).
func addJSON(tx *vault.Tx, ns, key string, v any) (bool, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return false, err
	}
	return tx.Add(ns, key, b)
}

// replaceJSON stores v as JSON under (ns, key) if a record is there, and
// reports whether it did (vault.Tx.Replace).
func replaceJSON(tx *vault.Tx, ns, key string, v any) (bool, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return false, err
	}
	return tx.Replace(ns, key, b)
}

// notFound reports whether err is the vault's "no such record".
func notFound(err error) bool { return errors.Is(err, vault.ErrNotFound) }
