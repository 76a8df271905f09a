package loadgen

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// StampLen is the size of a Stamp's text form, the first bytes of every
// benchmark payload.
const StampLen = len(stampMagic) + 8 + 16 + 16

const stampMagic = "pb1:"

// Stamp identifies one benchmark message: the pair that sent it, its
// sequence number within the pair, and its scheduled send time as an
// offset from the run's start (the monotonic clock of the process that
// runs both ends).
type Stamp struct {
	Pair  int
	Seq   uint64
	Sched time.Duration
}

// AppendText appends s's fixed-size text form: "pb1:" then the pair (8
// hex digits), the sequence number and the offset in nanoseconds (16 hex
// digits each).
func (s Stamp) AppendText(b []byte) []byte {
	b = append(b, stampMagic...)
	b = appendHex(b, uint64(uint32(s.Pair)), 8)
	b = appendHex(b, s.Seq, 16)
	return appendHex(b, uint64(s.Sched), 16)
}

func appendHex(b []byte, v uint64, digits int) []byte {
	var buf [16]byte
	h := strconv.AppendUint(buf[:0], v, 16)
	for range digits - len(h) {
		b = append(b, '0')
	}
	return append(b, h...)
}

// errStamp: a payload that does not start with a Stamp.
var errStamp = errors.New("loadgen: payload carries no stamp")

// ParseStamp reads the Stamp at the start of a payload.
func ParseStamp(p []byte) (Stamp, error) {
	if len(p) < StampLen || string(p[:len(stampMagic)]) != stampMagic {
		return Stamp{}, errStamp
	}
	p = p[len(stampMagic):]
	pair, err1 := strconv.ParseUint(string(p[:8]), 16, 32)
	seq, err2 := strconv.ParseUint(string(p[8:24]), 16, 64)
	ns, err3 := strconv.ParseUint(string(p[24:40]), 16, 63)
	if err := errors.Join(err1, err2, err3); err != nil {
		return Stamp{}, fmt.Errorf("%w: %v", errStamp, err)
	}
	return Stamp{Pair: int(pair), Seq: seq, Sched: time.Duration(ns)}, nil
}
