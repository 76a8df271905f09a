package vault

import (
	"bytes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"hash"

	"golang.org/x/crypto/cryptobyte"
)

// A record is stored as one row of the records table:
//
//	id  = HMAC-SHA256(indexKey, 0x01 || u8 len ns || ns || u16 len key || key)
//	ns  = HMAC-SHA256(indexKey, 0x02 || u8 len ns || ns)
//	val = version (1 byte, = 1) || nonce (24) || XChaCha20-Poly1305(sealKey, nonce,
//	        plaintext = u16 len key || key || value,
//	        AD        = labelRecordAD || version || id || u8 len ns || ns)
//
// The namespace and key never reach disk in the clear: the row is found by
// its HMAC, and the key itself travels inside the sealed value so that
// List can return it. Opening a record checks the AEAD and then that the
// key inside hashes to the row's id, so a value moved to another row,
// namespace or vault fails with ErrCorrupt.
const (
	recordVersion = 1
	tagRecord     = 0x01
	tagNamespace  = 0x02
	recordHeader  = 1 + nonceSize // version byte and nonce
)

// Limits on records.
const (
	MaxNamespaceLen = 64       // bytes; at least 1
	MaxKeyLen       = 1024     // bytes; may be empty
	MaxValueLen     = 16 << 20 // bytes: 16 MiB
)

// Record is one decrypted record, as List returns it.
type Record struct {
	Key   string
	Value []byte
}

// recordKeys are the subkeys derived from the data key.
type recordKeys struct {
	_     [0]func() // incomparable
	seal  cipher.AEAD
	index *secret
}

func newRecordKeys(dataKey []byte) *recordKeys {
	sk := derive(dataKey, nil, labelRecordSeal, keySize)
	defer clear(sk)
	return &recordKeys{
		seal:  newAEAD(sk),
		index: newSecret(derive(dataKey, nil, labelRecordIndex, keySize)),
	}
}

// Format prints REDACTED for every verb.
func (k *recordKeys) Format(f fmt.State, _ rune) { fmt.Fprint(f, redacted) }

func (k *recordKeys) wipe() { k.index.wipe() }

// checkName validates a namespace and key.
func checkName(ns, key string) error {
	if len(ns) == 0 || len(ns) > MaxNamespaceLen {
		return fmt.Errorf("%w: namespace length %d not in 1..%d", ErrInvalid, len(ns), MaxNamespaceLen)
	}
	if len(key) > MaxKeyLen {
		return fmt.Errorf("%w: key length %d above %d", ErrInvalid, len(key), MaxKeyLen)
	}
	return nil
}

// indexMAC is HMAC-SHA256 under the index key, keyed once and reset
// between uses: a transaction's thousands of record IDs then cost no key
// schedule each. A Tx holds one for its life only (Tx.indexMAC).
type indexMAC struct {
	h hash.Hash
}

// Format prints REDACTED for every verb.
func (m *indexMAC) Format(f fmt.State, _ rune) { fmt.Fprint(f, redacted) }

func (k *recordKeys) newIndexMAC() *indexMAC {
	return &indexMAC{h: hmac.New(sha256.New, k.index.bytes())}
}

// nsTag and recordID outside a transaction.
func (k *recordKeys) nsTag(ns string) []byte         { return k.newIndexMAC().nsTag(ns) }
func (k *recordKeys) recordID(ns, key string) []byte { return k.newIndexMAC().recordID(ns, key) }

// sum is the HMAC of the concatenated parts.
func (m *indexMAC) sum(parts ...[]byte) []byte {
	m.h.Reset()
	for _, p := range parts {
		m.h.Write(p)
	}
	return m.h.Sum(make([]byte, 0, macSize))
}

func (m *indexMAC) nsTag(ns string) []byte {
	return m.sum([]byte{tagNamespace, byte(len(ns))}, []byte(ns))
}

func (m *indexMAC) recordID(ns, key string) []byte {
	return m.sum([]byte{tagRecord, byte(len(ns))}, []byte(ns),
		[]byte{byte(len(key) >> 8), byte(len(key))}, []byte(key))
}

func recordAD(id []byte, ns string) []byte {
	ad := make([]byte, 0, len(labelRecordAD)+1+len(id)+1+len(ns))
	ad = append(ad, labelRecordAD...)
	ad = append(ad, recordVersion)
	ad = append(ad, id...)
	ad = append(ad, byte(len(ns)))
	return append(ad, ns...)
}

// sealRecord returns the row (id, namespace tag, sealed value) for a record.
func (k *recordKeys) sealRecord(m *indexMAC, ns, key string, val []byte) (id, nsTag, sealed []byte) {
	id = m.recordID(ns, key)
	pt := make([]byte, 0, 2+len(key)+len(val))
	pt = append(pt, byte(len(key)>>8), byte(len(key)))
	pt = append(pt, key...)
	pt = append(pt, val...)
	sealed = seal(k.seal, []byte{recordVersion}, pt, recordAD(id, ns))
	clear(pt)
	return id, m.nsTag(ns), sealed
}

// openRecord authenticates and decrypts the row (id, sealed) read from
// namespace ns. Every failure wraps ErrCorrupt.
func (k *recordKeys) openRecord(m *indexMAC, ns string, id, sealed []byte) (Record, error) {
	if len(sealed) < recordHeader+tagSize || sealed[0] != recordVersion {
		return Record{}, corrupt("record: malformed sealed value")
	}
	pt, err := open(k.seal, sealed[1:], recordAD(id, ns))
	if err != nil {
		return Record{}, corrupt("record: %v", err)
	}
	s := cryptobyte.String(pt)
	var key cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&key) || len(key) > MaxKeyLen {
		return Record{}, corrupt("record: malformed plaintext")
	}
	r := Record{Key: string(key), Value: bytes.Clone([]byte(s))}
	clear(pt)
	if subtle.ConstantTimeCompare(m.recordID(ns, r.Key), id) != 1 {
		return Record{}, corrupt("record: key does not match its row")
	}
	return r, nil
}

// checkAD is the check record's associated data; its plaintext is the
// vault ID. Open reads it to confirm that the database belongs to the
// header.
func checkAD(vaultID []byte) []byte {
	return append([]byte(labelCheckAD), vaultID...)
}
