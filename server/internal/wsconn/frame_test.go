package wsconn

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/gobwas/ws"
)

// FuzzParseHeader checks parseHeader against gobwas/ws's ReadHeader on
// any input: both accept the same headers with the same fields, and
// parseHeader asks for more bytes exactly when ReadHeader runs out.
func FuzzParseHeader(f *testing.F) {
	f.Add([]byte{0x82, 0x85, 1, 2, 3, 4, 'h', 'e', 'l', 'l', 'o'})
	f.Add([]byte{0x82, 0xfe, 0x01, 0x00, 1, 2, 3, 4})
	f.Add([]byte{0x02, 0xff, 0, 0, 0, 0, 0, 1, 0, 0, 9, 9, 9, 9})
	f.Add([]byte{0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8})
	f.Add([]byte{0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, ok, err := parseHeader(b)
		r := bytes.NewReader(b)
		want, werr := ws.ReadHeader(r)
		switch {
		case err != nil:
			if werr == nil {
				t.Fatalf("parseHeader refused %x (%v), ReadHeader accepted %+v", b, err, want)
			}
		case !ok:
			if !errors.Is(werr, io.ErrUnexpectedEOF) && !errors.Is(werr, io.EOF) {
				t.Fatalf("parseHeader wants more of %x, ReadHeader said %v", b, werr)
			}
		case werr != nil:
			t.Fatalf("parseHeader accepted %x, ReadHeader said %v", b, werr)
		case h != want || n != len(b)-r.Len():
			t.Fatalf("parseHeader %+v (%d bytes), ReadHeader %+v (%d bytes)", h, n, want, len(b)-r.Len())
		}
	})
}

// TestAppendFrame checks the frames the server writes against gobwas/ws's
// reader, at each header size.
func TestAppendFrame(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 0xffff, 0x10000, 300000} {
		payload := bytes.Repeat([]byte{7}, n)
		b, err := appendFrame([]byte("prefix"), ws.OpBinary, func(b []byte) ([]byte, error) { return append(b, payload...), nil })
		if err != nil {
			t.Fatal(err)
		}
		r := bytes.NewReader(b[len("prefix"):])
		f, err := ws.ReadFrame(r)
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if !f.Header.Fin || f.Header.OpCode != ws.OpBinary || f.Header.Masked || !bytes.Equal(f.Payload, payload) || r.Len() != 0 {
			t.Fatalf("%d bytes: got %+v and %d payload bytes, %d left", n, f.Header, len(f.Payload), r.Len())
		}
	}
}
