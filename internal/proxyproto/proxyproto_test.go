package proxyproto

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

const sigHex = "0d0a0d0a000d0a515549540a"

func TestRead(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string // hex
		want Header
		err  error
		tail string // hex of what follows the header, left unread
	}{
		{"ipv4", sigHex + "21 11 000c c6336401 c0000201 d431 01bb", Header{
			Source: netip.MustParseAddrPort("198.51.100.1:54321"), Dest: netip.MustParseAddrPort("192.0.2.1:443"),
		}, nil, ""},
		{"ipv6 with a TLV", sigHex + "21 21 0028" + "20010db8000000000000000000000001" + "20010db8000000000000000000000002" + "0050 01bb" + "04 0001 00", Header{
			Source: netip.MustParseAddrPort("[2001:db8::1]:80"), Dest: netip.MustParseAddrPort("[2001:db8::2]:443"),
		}, nil, ""},
		{"bytes after the header stay", sigHex + "21 11 000c 0a000001 0a000002 0001 0002" + "16030100", Header{
			Source: netip.MustParseAddrPort("10.0.0.1:1"), Dest: netip.MustParseAddrPort("10.0.0.2:2"),
		}, nil, "16030100"},
		{"local", sigHex + "20 00 0000", Header{Local: true}, nil, ""},
		{"local with ignored addresses", sigHex + "20 11 000c 0a000001 0a000002 0001 0002", Header{Local: true}, nil, ""},
		{"proxy, unspecified family", sigHex + "21 00 0000", Header{Local: true}, nil, ""},
		{"proxy, unix family", sigHex + "21 31 00d8" + strings.Repeat("00", 216), Header{Local: true}, nil, ""},
		{"TLS instead", "160301020001000200030004", Header{}, ErrNoHeader, ""},
		{"version 1 text", hex.EncodeToString([]byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n")), Header{}, ErrNoHeader, ""},
		{"empty", "", Header{}, ErrNoHeader, ""},
		{"truncated fixed part", sigHex + "21 11", Header{}, ErrNoHeader, ""},
		{"version 3", sigHex + "31 11 000c c6336401 c0000201 d431 01bb", Header{}, ErrMalformed, ""},
		{"command 2", sigHex + "22 11 000c c6336401 c0000201 d431 01bb", Header{}, ErrMalformed, ""},
		{"datagram", sigHex + "21 12 000c c6336401 c0000201 d431 01bb", Header{}, ErrMalformed, ""},
		{"family 4", sigHex + "21 41 000c c6336401 c0000201 d431 01bb", Header{}, ErrMalformed, ""},
		{"length too short for ipv4", sigHex + "21 11 000b c6336401 c0000201 d431 01", Header{}, ErrMalformed, ""},
		{"length too short for ipv6", sigHex + "21 21 000c c6336401 c0000201 d431 01bb", Header{}, ErrMalformed, ""},
		{"addresses cut short", sigHex + "21 11 000c c6336401 c000", Header{}, ErrMalformed, ""},
		{"TLVs cut short", sigHex + "21 11 0010 c6336401 c0000201 d431 01bb 04", Header{}, ErrMalformed, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := bytes.NewReader(mustHex(tc.in))
			got, err := Read(r)
			if !errors.Is(err, tc.err) || got != tc.want {
				t.Fatalf("Read = %+v, %v; want %+v, %v", got, err, tc.want, tc.err)
			}
			if err == nil {
				rest, _ := io.ReadAll(r)
				if hex.EncodeToString(rest) != tc.tail {
					t.Errorf("left %x unread, want %s", rest, tc.tail)
				}
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	for _, h := range []Header{
		{Local: true},
		{Source: netip.MustParseAddrPort("203.0.113.9:65535"), Dest: netip.MustParseAddrPort("192.0.2.1:443")},
		{Source: netip.MustParseAddrPort("[2001:db8::9]:1"), Dest: netip.MustParseAddrPort("[::1]:8443")},
	} {
		b, err := h.AppendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := Read(bytes.NewReader(b)); err != nil || got != h {
			t.Errorf("Read(AppendBinary(%+v)) = %+v, %v", h, got, err)
		}
	}
	mixed := Header{Source: netip.MustParseAddrPort("203.0.113.9:1"), Dest: netip.MustParseAddrPort("[::1]:2")}
	if _, err := mixed.AppendBinary(nil); err == nil {
		t.Error("mixed families encoded")
	}
}

// FuzzRead: any input gives a header or an error, never a panic; never
// more than MaxLen bytes are consumed; an accepted PROXY header encodes
// back to an input that reads the same.
func FuzzRead(f *testing.F) {
	f.Add(mustHex(sigHex + "21 11 000c c6336401 c0000201 d431 01bb"))
	f.Add(mustHex(sigHex + "21 21 0028" + strings.Repeat("01", 36) + "04 0001 00"))
	f.Add(mustHex(sigHex + "20 00 0000"))
	f.Add(mustHex(sigHex + "21 31 00d8" + strings.Repeat("00", 216)))
	f.Add([]byte("\x16\x03\x01"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		h, err := Read(r)
		consumed := len(in) - r.Len()
		if consumed > MaxLen {
			t.Fatalf("consumed %d bytes", consumed)
		}
		if err != nil {
			if !errors.Is(err, ErrNoHeader) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v wraps neither sentinel", err)
			}
			return
		}
		b, err := h.AppendBinary(nil)
		if err != nil {
			t.Fatalf("accepted %+v does not encode: %v", h, err)
		}
		if again, err := Read(bytes.NewReader(b)); err != nil || again != h {
			t.Fatalf("re-read %+v, %v; want %+v", again, err, h)
		}
	})
}

// listen returns a Listener on loopback trusting only trust, and a dialer
// that connects from src (another loopback address).
func listen(t *testing.T, trust netip.Prefix) *Listener {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &Listener{Listener: inner, Trusted: trust.Contains, Timeout: 2 * time.Second}
	t.Cleanup(func() { l.Close() })
	return l
}

func dialFrom(t *testing.T, src string, l net.Listener) net.Conn {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Skipf("cannot dial from %s: %v", src, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestListener(t *testing.T) {
	l := listen(t, netip.MustParsePrefix("127.0.0.1/32"))
	client := netip.MustParseAddrPort("198.51.100.7:40000")
	hdr, _ := Header{Source: client, Dest: netip.MustParseAddrPort("192.0.2.1:443")}.AppendBinary(nil)

	// A trusted peer's header is read and stripped.
	c := dialFrom(t, "127.0.0.1", l)
	c.Write(append(hdr, "hello\n"...))
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if got := s.RemoteAddr().String(); got != client.String() {
		t.Errorf("RemoteAddr = %s, want %s", got, client)
	}
	if line, _ := bufio.NewReader(s).ReadString('\n'); line != "hello\n" {
		t.Errorf("read %q after the header", line)
	}
	s.Close()

	// A trusted peer without a header is refused: reads fail.
	c = dialFrom(t, "127.0.0.1", l)
	c.Write([]byte("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 plain TLS, no header"))
	s, _ = l.Accept()
	if _, err := s.Read(make([]byte, 1)); !errors.Is(err, ErrNoHeader) {
		t.Errorf("trusted peer without a header: read error %v", err)
	}
	if got := s.RemoteAddr().String(); !strings.HasPrefix(got, "127.0.0.1:") {
		t.Errorf("RemoteAddr after a failed header = %s", got)
	}
	s.Close()

	// An untrusted peer's header is not read: it stays in the stream.
	c = dialFrom(t, "127.0.0.2", l)
	c.Write(hdr)
	s, _ = l.Accept()
	if got := s.RemoteAddr().String(); !strings.HasPrefix(got, "127.0.0.2:") {
		t.Errorf("untrusted peer's RemoteAddr = %s", got)
	}
	got := make([]byte, len(hdr))
	if _, err := io.ReadFull(s, got); err != nil || !bytes.Equal(got, hdr) {
		t.Errorf("untrusted peer's bytes: %x, %v", got, err)
	}
	s.Close()

	// A trusted peer that sends nothing is cut at the timeout.
	l.Timeout = 100 * time.Millisecond
	dialFrom(t, "127.0.0.1", l)
	s, _ = l.Accept()
	start := time.Now()
	if _, err := s.Read(make([]byte, 1)); err == nil || time.Since(start) > time.Second {
		t.Errorf("silent trusted peer: %v after %v", err, time.Since(start))
	}
	s.Close()
}
