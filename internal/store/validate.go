package store

import (
	"fmt"
	"time"

	"parley.dev/internal/addr"
)

// Times are stored as Unix microseconds; outside these years the
// conversion is not exact, so such times are refused.
const (
	minYear = 1970
	maxYear = 9999
)

func checkUser(u addr.UserID) error {
	if !u.Valid() {
		return fmt.Errorf("%w: user ID %q", ErrInvalid, string(u))
	}
	return nil
}

func checkAddr(a addr.Address) error {
	if !a.Valid() {
		return fmt.Errorf("%w: address %q", ErrInvalid, a.String())
	}
	return nil
}

// checkValue checks a stored public value's size. Only the name and the
// length reach the error, never the bytes.
func checkValue(name string, b []byte, emptyOK bool) error {
	if len(b) > MaxValueLen || len(b) == 0 && !emptyOK {
		return fmt.Errorf("%w: %s is %d bytes, want 1..%d", ErrInvalid, name, len(b), MaxValueLen)
	}
	return nil
}

func checkTime(name string, t time.Time) error {
	if y := t.Year(); y < minYear || y > maxYear {
		return fmt.Errorf("%w: %s year %d not in %d..%d", ErrInvalid, name, y, minYear, maxYear)
	}
	return nil
}

// orNow returns t, or now when t is zero.
func orNow(t time.Time, now func() time.Time) time.Time {
	if t.IsZero() {
		return now()
	}
	return t
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// nonNil turns a nil slice into an empty one: columns are NOT NULL.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// orNil returns nil for an empty slice, so values round-trip alike on
// every backend.
func orNil(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// normalize fills an envelope's defaults and checks it.
func normalize(e *Envelope, now time.Time, ttl time.Duration) error {
	if e.Kind == 0 {
		e.Kind = KindMessage
	}
	if e.Created.IsZero() {
		e.Created = now
	}
	if e.Expires.IsZero() {
		e.Expires = e.Created.Add(ttl)
	}
	switch {
	case checkAddr(e.To) != nil:
		return fmt.Errorf("%w: envelope recipient %q", ErrInvalid, e.To.String())
	case checkAddr(e.From) != nil:
		return fmt.Errorf("%w: envelope sender %q", ErrInvalid, e.From.String())
	case e.ID.IsZero():
		return fmt.Errorf("%w: zero message ID", ErrInvalid)
	case e.Kind != KindMessage && e.Kind != KindGroup:
		return fmt.Errorf("%w: envelope kind %d", ErrInvalid, e.Kind)
	case len(e.Payload) == 0 || len(e.Payload) > MaxPayloadLen:
		return fmt.Errorf("%w: payload is %d bytes, want 1..%d", ErrInvalid, len(e.Payload), MaxPayloadLen)
	case !e.Expires.After(e.Created):
		return fmt.Errorf("%w: envelope expires before it is created", ErrInvalid)
	}
	if err := checkTime("envelope created", e.Created); err != nil {
		return err
	}
	return checkTime("envelope expires", e.Expires)
}
