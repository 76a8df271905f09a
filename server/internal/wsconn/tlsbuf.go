package wsconn

import (
	"bytes"
	"crypto/tls"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"unsafe"
)

// crypto/tls keeps two input buffers for a connection's whole life and no
// API releases them: rawInput (the records read, at least the largest
// record so far plus 512 bytes) and hand (handshake messages, at least the
// ClientHello). With the hybrid post-quantum key share a ClientHello is
// about 1.5 kB, so an idle connection holds 3.5 kB of empty buffers: 2 kB
// and 1.5 kB, 40% of its memory. A reader handing its connection back to
// the poller drops them (releaseTLSBuffers); crypto/tls allocates them
// again, at the size the next records need, when the connection next
// reads.
//
// That reaches into crypto/tls's unexported fields. It is done only:
//   - with a Go release whose crypto/tls was read for it (tlsReviewedGo),
//     and when the fields are found there with these names and types
//     (tlsInput.ok), else not at all: TestTLSInputFieldsFound then fails,
//     so that a new Go release is reviewed (crypto/tls/conn.go: every use
//     of rawInput, input and hand must be under Read or the handshake) and
//     added, or the loss noticed;
//   - when all three are empty: no partial record, no plaintext waiting,
//     no handshake message (their zero values are what a new tls.Conn
//     has, and what crypto/tls grows from);
//   - by the connection's reader, the only caller of the tls.Conn's Read
//     and the only user of these fields (Write, Close and ConnectionState
//     never touch them), before it hands the connection back: the next
//     reader starts after it (rstate, epoll), so the two never overlap.
var tlsInput = findTLSInput()

// tlsReviewedGo lists the Go releases whose crypto/tls was reviewed for
// releaseTLSBuffers.
var tlsReviewedGo = []string{"go1.26."}

// tlsInputFields are the offsets of crypto/tls.Conn's input buffers.
type tlsInputFields struct {
	rawInput, input, hand uintptr
	ok                    bool
}

func findTLSInput() tlsInputFields {
	t := reflect.TypeFor[tls.Conn]()
	buffer, reader := reflect.TypeFor[bytes.Buffer](), reflect.TypeFor[bytes.Reader]()
	raw, ok1 := t.FieldByName("rawInput")
	in, ok2 := t.FieldByName("input")
	hand, ok3 := t.FieldByName("hand")
	ok := ok1 && ok2 && ok3 && raw.Type == buffer && in.Type == reader && hand.Type == buffer &&
		slices.ContainsFunc(tlsReviewedGo, func(v string) bool { return strings.HasPrefix(runtime.Version(), v) })
	return tlsInputFields{rawInput: raw.Offset, input: in.Offset, hand: hand.Offset, ok: ok}
}

// tlsBuffers returns tc's input buffers, or nils if they were not found.
func tlsBuffers(tc *tls.Conn) (raw *bytes.Buffer, in *bytes.Reader, hand *bytes.Buffer) {
	if !tlsInput.ok {
		return nil, nil, nil
	}
	p := unsafe.Pointer(tc)
	return (*bytes.Buffer)(unsafe.Add(p, tlsInput.rawInput)),
		(*bytes.Reader)(unsafe.Add(p, tlsInput.input)),
		(*bytes.Buffer)(unsafe.Add(p, tlsInput.hand))
}

// releaseTLSBuffers drops tc's input buffers if they are empty. Only the
// connection's reader may call it (see tlsInput).
func releaseTLSBuffers(tc *tls.Conn) {
	raw, in, hand := tlsBuffers(tc)
	if raw == nil || raw.Len() != 0 || in.Len() != 0 || hand.Len() != 0 {
		return
	}
	*raw, *in, *hand = bytes.Buffer{}, bytes.Reader{}, bytes.Buffer{}
}
