package client

import (
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"

	"parley.dev/internal/addr"
	"parley.dev/internal/keys"
	"parley.dev/internal/session"
	"parley.dev/internal/vault"
)

// Session bookkeeping: per remote device, a short list of sessions, the
// one to send on first. A second session appears when both sides start
// one at once, or when the peer reinstalls; messages on any listed
// session still decrypt.
const (
	// maxSessionsPerDevice bounds the sessions kept per remote device;
	// the oldest is dropped (with its undelivered messages) beyond it.
	maxSessionsPerDevice = 4
	// sessionListVersion is the first byte of a stored session list.
	sessionListVersion = 1
)

// sessionList is the sessions with one remote device, the one to send on
// first. It holds secrets and is not safe for concurrent use.
type sessionList []*session.Session

// loadSessions reads the sessions with device a (none is not an error).
func loadSessions(tx *vault.Tx, a addr.Address) (sessionList, error) {
	b, err := tx.Get(nsSessions, a.String())
	if notFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return unmarshalSessions(b)
}

// unmarshalSessions reads: u8 version, u8 count, count × u24-prefixed
// serialized session (session.MarshalBinary).
func unmarshalSessions(b []byte) (sessionList, error) {
	s := cryptobyte.String(b)
	var version, n uint8
	if !s.ReadUint8(&version) || version != sessionListVersion || !s.ReadUint8(&n) || n > maxSessionsPerDevice {
		return nil, errors.New("client: malformed session list")
	}
	l := make(sessionList, 0, n)
	for range n {
		var one cryptobyte.String
		if !s.ReadUint24LengthPrefixed(&one) {
			return nil, errors.New("client: malformed session list")
		}
		sess, err := session.Unmarshal(one)
		if err != nil {
			return nil, fmt.Errorf("client: stored session: %w", err)
		}
		l = append(l, sess)
	}
	if !s.Empty() {
		return nil, errors.New("client: malformed session list")
	}
	return l, nil
}

func (l sessionList) save(tx *vault.Tx, a addr.Address) error {
	var b cryptobyte.Builder
	b.AddUint8(sessionListVersion)
	b.AddUint8(uint8(len(l)))
	for _, s := range l {
		data, err := s.MarshalBinary()
		if err != nil {
			return err
		}
		b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(data) })
	}
	data, err := b.Bytes()
	if err != nil {
		return err
	}
	return tx.Put(nsSessions, a.String(), data)
}

// withFirst returns the list with s first, dropping the oldest beyond the
// bound.
func (l sessionList) withFirst(s *session.Session) sessionList {
	out := append(sessionList{s}, l...)
	return out[:min(len(out), maxSessionsPerDevice)]
}

// forIdentity returns the first session whose remote identity is id: the
// one to send on.
func (l sessionList) forIdentity(id keys.IdentityPublic) *session.Session {
	for _, s := range l {
		if s.RemoteIdentity().Equal(id) {
			return s
		}
	}
	return nil
}

// byBaseKey returns the session a TypePreKey message with base key bk
// belongs to, if any.
func (l sessionList) byBaseKey(bk [keys.X25519Size]byte) *session.Session {
	for _, s := range l {
		if s.BaseKey() == bk {
			return s
		}
	}
	return nil
}

// sessionCache keeps the session lists a transaction has read, so that a
// batch of messages from one device unmarshals and saves them once.
type sessionCache struct {
	tx     *vault.Tx
	lists  map[addr.Address]sessionList
	dirty  map[addr.Address]bool
	groups *groupTx                     // the batch's groups, once one is touched (groupreceive.go)
	trust  map[addr.UserID]trustVerdict // checkSender's, per sender (receive.go)
}

func newSessionCache(tx *vault.Tx) *sessionCache {
	return &sessionCache{tx: tx, lists: make(map[addr.Address]sessionList), dirty: make(map[addr.Address]bool),
		trust: make(map[addr.UserID]trustVerdict)}
}

func (sc *sessionCache) load(a addr.Address) (sessionList, error) {
	if l, ok := sc.lists[a]; ok {
		return l, nil
	}
	l, err := loadSessions(sc.tx, a)
	if err == nil {
		sc.lists[a] = l
	}
	return l, err
}

// put records a's sessions as changed (they are saved by flush).
func (sc *sessionCache) put(a addr.Address, l sessionList) {
	sc.lists[a] = l
	sc.dirty[a] = true
}

func (sc *sessionCache) flush() error {
	for a := range sc.dirty {
		if err := sc.lists[a].save(sc.tx, a); err != nil {
			return err
		}
	}
	clear(sc.dirty)
	return nil
}
