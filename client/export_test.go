package client

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"parley.dev/client/internal/relay"
	"parley.dev/internal/addr"
	"parley.dev/internal/keys"
	"parley.dev/internal/session"
	"parley.dev/internal/vault"
	"parley.dev/internal/wire"
)

// Test-only access for package client_test.

func (c *Client) hooksLocked() *testHooks {
	if c.hooks == nil {
		c.hooks = &testHooks{}
	}
	return c.hooks
}

// SetClock replaces c's clock. Call before Create or Unlock.
func SetClock(c *Client, now func() time.Time) { c.now = now }

// SetOneTimePreKeys sets how many one-time prekeys of each kind c keeps
// at the relay (fewer make tests fast). Call before Register.
func SetOneTimePreKeys(c *Client, n int) { c.oneTime = n }

// SetBackoff shortens Listen's first reconnect wait.
func SetBackoff(c *Client, d time.Duration) { c.backoff = d }

// InterceptSubmits hands c's outgoing envelopes to f instead of the relay.
func InterceptSubmits(c *Client, f func([]*wire.Submit) []*wire.SubmitResult) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hooksLocked().submit = f
}

// SweepNow runs c's sweep of due messages now.
func SweepNow(c *Client) error { return c.sweep(context.Background()) }

// SealedBursts returns how many bursts SendMany has sent by its sealed
// path since the first call of SealedBursts on c.
func SealedBursts(c *Client) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hooksLocked().sealedBursts
}

// DropAcks makes c store deliveries without acknowledging them.
func DropAcks(c *Client, drop bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hooksLocked().dropAcks = drop
}

// FailStores makes c's next n stores of a delivery fail before commit.
func FailStores(c *Client, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hooksLocked().failStores = n
}

// CrashAfterStore makes c's next n stores of deliveries commit and then
// fail as if the app died right after the commit: no event, no ack.
func CrashAfterStore(c *Client, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hooksLocked().crashAfterStores = n
}

// SubmitRaw submits envelopes as c's device, over a connection of its own.
func SubmitRaw(ctx context.Context, c *Client, subs []*wire.Submit) ([]*wire.SubmitResult, error) {
	conn, err := c.dial(ctx, relay.DialOptions{Discard: true})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.Submit(ctx, subs)
}

// PreKeyStatus asks the relay how many one-time prekeys c has left.
func PreKeyStatus(ctx context.Context, c *Client) (*wire.PreKeyStatus, error) {
	a, rc, err := relayAs(c)
	if err != nil {
		return nil, err
	}
	return rc.PreKeyStatus(ctx, a.auth())
}

// KeyCanaries returns byte strings that must never appear in c's files:
// its identity and device keys, public and secret.
func KeyCanaries(c *Client) [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.acct
	return [][]byte{a.identity.MarshalSecret()[2:34], a.identity.MarshalSecret()[34:],
		a.identity.Public().KeyBytes(), a.device.MarshalSecret()[2:], a.device.Public().Bytes()[2:]}
}

// SignedPreKeyIDs returns the IDs of c's signed prekeys kept, oldest first.
func SignedPreKeyIDs(c *Client) []uint32 {
	v, err := c.vault()
	if err != nil {
		return nil
	}
	var ids []uint32
	v.Update(func(tx *vault.Tx) error {
		m, err := loadPreKeyMeta(tx)
		for _, e := range m.Signed {
			ids = append(ids, e.ID)
		}
		return err
	})
	return ids
}

// SessionBaseKeys returns, for each of user's devices c has sessions
// with, the base keys of those sessions in list order ("user/device" ->
// hex base keys).
func SessionBaseKeys(c *Client, user string) map[string][]string {
	out := make(map[string][]string)
	for _, r := range sessionRecords(c, user) {
		l, err := unmarshalSessions(r.Value)
		if err != nil {
			return nil
		}
		for _, s := range l {
			bk := s.BaseKey()
			out[r.Key] = append(out[r.Key], hex.EncodeToString(bk[:]))
		}
	}
	return out
}

// ForgetSessions deletes c's sessions with user's devices, as a lost or
// restored vault would: c's next message to user starts new sessions.
func ForgetSessions(c *Client, user string) error {
	recs := sessionRecords(c, user)
	v, err := c.vault()
	if err != nil {
		return err
	}
	return v.Update(func(tx *vault.Tx) error {
		for _, r := range recs {
			if err := tx.Delete(nsSessions, r.Key); err != nil {
				return err
			}
		}
		return nil
	})
}

// sessionRecords returns c's session lists with user's devices.
func sessionRecords(c *Client, user string) []vault.Record {
	v, err := c.vault()
	if err != nil {
		return nil
	}
	recs, err := v.List(nsSessions)
	if err != nil {
		return nil
	}
	return slices.DeleteFunc(recs, func(r vault.Record) bool {
		a, err := addr.ParseAddress(r.Key)
		return err != nil || string(a.User) != user
	})
}

// TakeBundles takes n prekey bundles of device to (as c), using up its
// one-time prekeys at the relay.
func TakeBundles(ctx context.Context, c *Client, to Address, n int) error {
	for range n {
		if _, _, err := takeBundle(ctx, c, to); err != nil {
			return err
		}
	}
	return nil
}

// relayAs returns c's account and relay client.
func relayAs(c *Client) (*account, *relay.Client, error) { return c.relayAs() }

// takeBundle takes a prekey bundle of device to, as c.
func takeBundle(ctx context.Context, c *Client, to Address) (*account, *wire.Bundle, error) {
	a, rc, err := relayAs(c)
	if err != nil {
		return nil, nil, err
	}
	wb, err := rc.TakeBundle(ctx, a.auth(), addr.Address{User: addr.UserID(to.User), Device: addr.DeviceID(to.Device)})
	return a, wb, err
}

// AcceptedFirstMessages returns how many first messages from device from
// c remembers (see firstmsgs.go).
func AcceptedFirstMessages(c *Client, from Address) int {
	v, err := c.vault()
	if err != nil {
		return -1
	}
	n := -1
	v.Update(func(tx *vault.Tx) error {
		l, err := loadAccepted(tx, addr.Address{User: addr.UserID(from.User), Device: addr.DeviceID(from.Device)})
		if err == nil {
			n = len(l)
		}
		return err
	})
	return n
}

// PreKeySecrets reports whether c's vault holds the secrets of one-time
// X25519 prekey ec and of KEM prekey kem (0: not asked).
func PreKeySecrets(c *Client, ec, kem uint32) (hasEC, hasKEM bool) {
	v, err := c.vault()
	if err != nil {
		return false, false
	}
	v.Update(func(tx *vault.Tx) error {
		if ec != 0 {
			_, err := tx.Get(nsPreKeys, otkKey(keys.PreKeyID(ec)))
			hasEC = err == nil
		}
		if kem != 0 {
			_, err := tx.Get(nsPreKeys, kemKey(keys.PreKeyID(kem)))
			hasKEM = err == nil
		}
		return nil
	})
	return hasEC, hasKEM
}

// StartSession starts a session from c to device to, from a bundle the
// relay hands out, as c's next message would, without storing it: tests
// encrypt with it directly.
func StartSession(ctx context.Context, c *Client, to Address) (*session.Session, error) {
	a, wb, err := takeBundle(ctx, c, to)
	if err != nil {
		return nil, err
	}
	b, err := bundleFromWire(wb)
	if err != nil {
		return nil, err
	}
	return session.Initiate(a.identity, a.self(), b)
}

// SetKDF sets the Argon2id costs of c's new vaults and re-wrappings
// (benchmarks use the production costs; tests run with a cheap KDF).
func SetKDF(c *Client, p vault.KDFParams) { c.fs.kdf = p }

// CrashAt makes c's next factor change stop at step, as if the app died
// there: "credential-added", "enrolled", "rekeyed" or "retired".
func CrashAt(c *Client, step string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hooksLocked().crashAt = step
}

// IsTestCrash reports whether err is a crash CrashAt asked for.
func IsTestCrash(err error) bool { return errors.Is(err, errTestCrash) }

// UnlockCredentials lists the credential IDs in home's credential file.
func UnlockCredentials(t testing.TB, home string) [][32]byte {
	t.Helper()
	f, err := readCredentials(home)
	if err != nil {
		t.Fatal(err)
	}
	var ids [][32]byte
	for _, e := range f.Entries {
		ids = append(ids, e.Credential.ID())
	}
	return ids
}

// ProbeCredential asks c's relay for credential id's challenge: nil while
// the relay holds its key.
func ProbeCredential(ctx context.Context, c *Client, id [32]byte) error {
	rc, err := c.relayClient()
	if err != nil {
		return err
	}
	_, err = rc.UnlockChallenge(ctx, id)
	return err
}

// SealedHistory returns the history record of message id of the
// conversation with peer as c's vault stores it (sealed).
func SealedHistory(c *Client, peer string, id MessageID) ([]byte, error) {
	v, err := c.vault()
	if err != nil {
		return nil, err
	}
	return v.UnsafeSealedForTests(historyNS(addr.UserID(peer)), hex.EncodeToString(id[:]))
}

// VaultFilesHold reports whether c's vault files, decrypted page by page
// (as by someone holding its data key), hold b.
func VaultFilesHold(c *Client, b []byte) (bool, error) {
	v, err := c.vault()
	if err != nil {
		return false, err
	}
	return v.UnsafeFilesHoldForTests(b)
}

// StampVaultFromTheFuture marks c's vault database as written by a
// newer build: a schema version above this one's.
func StampVaultFromTheFuture(c *Client) error {
	v, err := c.vault()
	if err != nil {
		return err
	}
	return v.UnsafeSetSchemaVersionForTests(1 << 20)
}

// MarkUnreadLegacy writes the unread mark of message id of conversation
// conv as vaults did before marks were kept per batch: one record each.
func MarkUnreadLegacy(c *Client, id MessageID, conv string) error {
	v, err := c.vault()
	if err != nil {
		return err
	}
	return v.Update(func(tx *vault.Tx) error {
		return tx.Put(nsUnread, unreadKey(addr.MessageID(id).String(), conv), nil)
	})
}

// UnreadRecords returns how many records hold unread marks.
func UnreadRecords(c *Client) (int, error) {
	v, err := c.vault()
	if err != nil {
		return 0, err
	}
	var n int
	err = v.Update(func(tx *vault.Tx) error {
		recs, err := tx.List(nsUnread)
		n = len(recs)
		return err
	})
	return n, err
}

// ReceiveDeliveries stores deliveries as one receive transaction would on
// a live connection, then clears the unread marks of the messages, as
// Sync does once it has handed them over; it returns the events.
func ReceiveDeliveries(c *Client, batch []*wire.Deliver) ([]Event, error) {
	res, err := c.receive(batch)
	if err != nil {
		return nil, err
	}
	var evs []Event
	for _, r := range res {
		evs = append(evs, r.events...)
	}
	c.markAnnounced(evs)
	return evs, nil
}

// BeforeGroupSubmit makes c's flush call f before it submits each sealed
// group outbox item.
func BeforeGroupSubmit(c *Client, f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hooksLocked().beforeGroupSubmit = f
}

// BeforeSaveUpload makes c's uploads call f before they store a new blob
// (created or renewed) in the upload record.
func BeforeSaveUpload(c *Client, f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hooksLocked().beforeSaveUpload = f
}

// PendingUploads counts c's upload records.
func PendingUploads(c *Client) (int, error) { return countRecords(c, nsUploads) }

// countRecords counts the records of c's vault namespace ns.
func countRecords(c *Client, ns string) (int, error) {
	v, err := c.vault()
	if err != nil {
		return 0, err
	}
	recs, err := v.List(ns)
	return len(recs), err
}

// NewRelayBlobs has the relay create n blobs of size bytes for c's user,
// as unfinished uploads would, and if queued queues each for deletion, as
// the sweep does for uploads it deletes while the relay is down.
func NewRelayBlobs(ctx context.Context, c *Client, n int, size uint64, queued bool) error {
	v, err := c.vault()
	if err != nil {
		return err
	}
	a, rc, err := c.relayAs()
	if err != nil {
		return err
	}
	for range n {
		up, err := rc.CreateBlob(ctx, a.auth(), size)
		if err != nil {
			return err
		}
		if !queued {
			continue
		}
		if err := v.Update(func(tx *vault.Tx) error { return queueBlobDelete(tx, up.ID) }); err != nil {
			return err
		}
	}
	return nil
}

// QueuedBlobDeletes counts the blobs c has queued for deletion.
func QueuedBlobDeletes(c *Client) (int, error) { return countRecords(c, nsBlobDeletes) }

// QueueBlobDelete queues blob id for deletion at the relay, as the sweep
// does.
func QueueBlobDelete(c *Client, id [wire.BlobIDLen]byte) error {
	v, err := c.vault()
	if err != nil {
		return err
	}
	return v.Update(func(tx *vault.Tx) error { return queueBlobDelete(tx, id) })
}

// RefuseBlobDeletes has c's relay answer a blob deletion that refuse
// picks with an error frame of the code it returns, instead of deleting
// the blob; refuse sees each deletion's blob ID.
func RefuseBlobDeletes(c *Client, refuse func(id [wire.BlobIDLen]byte) (wire.Code, bool)) error {
	rc, err := c.relayClient()
	if err != nil {
		return err
	}
	rc.WrapTransport(func(next http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			var id [wire.BlobIDLen]byte
			name, ok := strings.CutPrefix(req.URL.Path, "/v1/blobs/")
			if req.Method != http.MethodDelete || !ok {
				return next.RoundTrip(req)
			}
			if n, err := base64.RawURLEncoding.Decode(id[:], []byte(name)); err != nil || n != len(id) {
				return next.RoundTrip(req)
			}
			code, refused := refuse(id)
			if !refused {
				return next.RoundTrip(req)
			}
			body, err := wire.Append(nil, &wire.Error{Code: code})
			if err != nil {
				return nil, err
			}
			return &http.Response{StatusCode: code.HTTPStatus(), Body: io.NopCloser(bytes.NewReader(body)),
				Header: http.Header{}, Request: req}, nil
		})
	})
	return nil
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
