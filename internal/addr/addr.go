// Package addr names the things Parley routes between: users, their devices
// and the messages they send.
//
// A [UserID] is chosen at registration and is stable; a [DeviceID] is
// assigned by the relay, starts at 1 for each user and is never reused, even
// after the device is revoked. An [Address] is one device of one user and is
// what a mailbox, a session and a ratchet are bound to. A [MessageID] is
// chosen by the sending device and makes delivery idempotent.
//
// All types are plain values: their zero values are invalid (and rejected by
// the parsers) and they are safe for concurrent use.
package addr

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MaxUserIDLen is the longest user ID in bytes.
const MaxUserIDLen = 64

// MessageIDLen is the size of a message ID in bytes.
const MessageIDLen = 16

// ErrInvalid is wrapped by every parse error of this package.
var ErrInvalid = errors.New("addr: invalid")

// UserID names a user. Valid IDs are 1 to 64 bytes of lowercase ASCII
// letters, digits, '.', '_' and '-', starting with a letter or digit.
type UserID string

// ParseUserID checks s and returns it as a UserID. It does not change case:
// "Alice" is rejected, not folded, so that one user has one spelling.
func ParseUserID(s string) (UserID, error) {
	if len(s) == 0 || len(s) > MaxUserIDLen {
		return "", fmt.Errorf("%w user ID: length %d not in 1..%d", ErrInvalid, len(s), MaxUserIDLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || i > 0 && (c == '.' || c == '_' || c == '-')
		if !ok {
			return "", fmt.Errorf("%w user ID %q: character %d", ErrInvalid, s, i)
		}
	}
	return UserID(s), nil
}

// Valid reports whether u would be accepted by ParseUserID.
func (u UserID) Valid() bool {
	_, err := ParseUserID(string(u))
	return err == nil
}

// DeviceID numbers one device of a user. Zero is not a device.
type DeviceID uint32

// Address is one device of one user.
type Address struct {
	User   UserID
	Device DeviceID
}

// String formats a as "user/device", the form ParseAddress reads.
func (a Address) String() string {
	return string(a.User) + "/" + strconv.FormatUint(uint64(a.Device), 10)
}

// Valid reports whether a names a well-formed user and a nonzero device.
func (a Address) Valid() bool { return a.User.Valid() && a.Device != 0 }

// ParseAddress reads the "user/device" form.
func ParseAddress(s string) (Address, error) {
	user, dev, ok := strings.Cut(s, "/")
	if !ok {
		return Address{}, fmt.Errorf("%w address %q: want user/device", ErrInvalid, s)
	}
	u, err := ParseUserID(user)
	if err != nil {
		return Address{}, err
	}
	n, err := strconv.ParseUint(dev, 10, 32)
	if err != nil || n == 0 || strconv.FormatUint(n, 10) != dev {
		return Address{}, fmt.Errorf("%w address %q: bad device number", ErrInvalid, s)
	}
	return Address{User: u, Device: DeviceID(n)}, nil
}

// AppendBinary appends a's canonical binary form: a one-byte length, the
// user ID, and the device as a big-endian uint32. It is the form bound into
// transcripts and associated data.
func (a Address) AppendBinary(b []byte) ([]byte, error) {
	if !a.Valid() {
		return b, fmt.Errorf("%w address %q", ErrInvalid, a.String())
	}
	b = append(b, byte(len(a.User)))
	b = append(b, a.User...)
	return binary.BigEndian.AppendUint32(b, uint32(a.Device)), nil
}

// MessageID identifies one message of one sender. The sender chooses it at
// random; the relay uses it to make resubmission idempotent and receivers
// use it to drop duplicates.
type MessageID [MessageIDLen]byte

// NewMessageID returns a fresh random message ID.
func NewMessageID() MessageID {
	var id MessageID
	rand.Read(id[:]) // never fails; see crypto/rand.Read
	return id
}

// String formats id as 32 lowercase hex digits.
func (id MessageID) String() string { return hex.EncodeToString(id[:]) }

// IsZero reports whether id is all zeros, which no sender may use.
func (id MessageID) IsZero() bool { return id == MessageID{} }

// ParseMessageID reads the hex form written by String.
func ParseMessageID(s string) (MessageID, error) {
	var id MessageID
	if len(s) != 2*MessageIDLen {
		return id, fmt.Errorf("%w message ID: want %d hex digits", ErrInvalid, 2*MessageIDLen)
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("%w message ID: %v", ErrInvalid, err)
	}
	if id.IsZero() {
		return id, fmt.Errorf("%w message ID: all zeros", ErrInvalid)
	}
	return id, nil
}
