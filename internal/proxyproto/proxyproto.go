// Package proxyproto reads the PROXY protocol version 2 header that a
// TCP load balancer sends before a connection's own bytes to tell the
// server who the client is (HAProxy's "The PROXY protocol", section 2.2).
// Only version 2, the binary form, is read.
//
// A header is believed only from a trusted peer, and a server that
// expects headers from a peer must require one on every connection from
// it: were a header optional, a client passed through by a TCP proxy
// could send its own and claim any address. Listener does both.
//
//	l = &proxyproto.Listener{Listener: l, Trusted: isMyLoadBalancer, Timeout: 10 * time.Second}
package proxyproto

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
)

// The header: a 12-byte signature, a version and command byte, a family
// and transport byte, a u16 length of what follows (addresses, then TLVs).
const (
	// Signature starts every version 2 header; it cannot start a TLS
	// record or an HTTP request.
	Signature = "\r\n\r\n\x00\r\nQUIT\n"
	// FixedLen is the size of the part before the addresses.
	FixedLen = 16
	// MaxLen is the longest header: the fixed part and a u16 length.
	MaxLen = FixedLen + 0xffff

	version2 = 0x2

	cmdLocal = 0x0 // the proxy's own connection (a health check)
	cmdProxy = 0x1 // relayed for a client

	famUnspec = 0x0
	famInet   = 0x1
	famInet6  = 0x2
	famUnix   = 0x3

	transUnspec = 0x0
	transStream = 0x1

	// Sizes of the address blocks: source and destination address, then
	// source and destination port.
	inetLen  = 4 + 4 + 2 + 2
	inet6Len = 16 + 16 + 2 + 2
)

// Errors Read returns, wrapped.
var (
	// ErrNoHeader: the bytes do not start with the version 2 signature.
	ErrNoHeader = errors.New("proxyproto: no PROXY v2 header")
	// ErrMalformed: the signature is there but the rest is not a valid
	// header for a TCP connection.
	ErrMalformed = errors.New("proxyproto: malformed PROXY v2 header")
)

// Header is what a proxy said about a connection.
type Header struct {
	// Local is set when the proxy speaks for itself (command LOCAL, such
	// as a health check) or named no usable address (an unspecified or
	// UNIX family): the connection's own endpoints then stand.
	Local bool
	// Source and Dest are the client's and the address it connected to,
	// when Local is false. IPv4 addresses are 4-byte addresses.
	Source, Dest netip.AddrPort
}

// Read reads one header from r, and nothing after it. TLVs after the
// addresses are read and discarded.
func Read(r io.Reader) (Header, error) {
	var fixed [FixedLen]byte
	if _, err := io.ReadFull(r, fixed[:]); err != nil {
		return Header{}, fmt.Errorf("%w: %w", ErrNoHeader, err)
	}
	if string(fixed[:len(Signature)]) != Signature {
		return Header{}, ErrNoHeader
	}
	if fixed[12]>>4 != version2 {
		return Header{}, fmt.Errorf("%w: version %d", ErrMalformed, fixed[12]>>4)
	}
	cmd, fam, trans := fixed[12]&0xf, fixed[13]>>4, fixed[13]&0xf
	rest := int(binary.BigEndian.Uint16(fixed[14:]))
	need, err := addressLen(cmd, fam, trans)
	if err != nil {
		return Header{}, err
	}
	if rest < need {
		return Header{}, fmt.Errorf("%w: %d address bytes, need %d", ErrMalformed, rest, need)
	}
	var addrs [inet6Len]byte
	if _, err := io.ReadFull(r, addrs[:need]); err != nil {
		return Header{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if _, err := io.CopyN(io.Discard, r, int64(rest-need)); err != nil {
		return Header{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if need == 0 {
		return Header{Local: true}, nil
	}
	return parseAddresses(addrs[:need]), nil
}

// addressLen checks the command, family and transport, and returns how
// many address bytes to read (0: none, the real endpoints stand).
func addressLen(cmd, fam, trans byte) (int, error) {
	switch {
	case cmd == cmdLocal:
		return 0, nil // family and addresses are to be ignored
	case cmd != cmdProxy:
		return 0, fmt.Errorf("%w: command %d", ErrMalformed, cmd)
	case trans != transStream && trans != transUnspec:
		return 0, fmt.Errorf("%w: transport %d is not a stream", ErrMalformed, trans)
	}
	switch fam {
	case famInet:
		return inetLen, nil
	case famInet6:
		return inet6Len, nil
	case famUnspec, famUnix:
		return 0, nil
	}
	return 0, fmt.Errorf("%w: family %d", ErrMalformed, fam)
}

func parseAddresses(b []byte) Header {
	n := (len(b) - 4) / 2
	src, _ := netip.AddrFromSlice(b[:n])
	dst, _ := netip.AddrFromSlice(b[n : 2*n])
	return Header{
		Source: netip.AddrPortFrom(src, binary.BigEndian.Uint16(b[2*n:])),
		Dest:   netip.AddrPortFrom(dst, binary.BigEndian.Uint16(b[2*n+2:])),
	}
}

// AppendBinary appends h's encoding: a PROXY command with the addresses
// (both of one family), or a LOCAL command. Proxies and tests use it.
func (h Header) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, Signature...)
	if h.Local {
		return append(b, version2<<4|cmdLocal, famUnspec<<4|transUnspec, 0, 0), nil
	}
	src, dst := h.Source.Addr(), h.Dest.Addr()
	var fam byte
	switch {
	case src.Is4() && dst.Is4():
		fam = famInet
	case src.Is6() && dst.Is6():
		fam = famInet6
	default:
		return nil, fmt.Errorf("proxyproto: source %v and destination %v are not of one family", src, dst)
	}
	n := src.BitLen()/8*2 + 4
	b = append(b, version2<<4|cmdProxy, fam<<4|transStream)
	b = binary.BigEndian.AppendUint16(b, uint16(n))
	b = append(b, src.AsSlice()...)
	b = append(b, dst.AsSlice()...)
	b = binary.BigEndian.AppendUint16(b, h.Source.Port())
	return binary.BigEndian.AppendUint16(b, h.Dest.Port()), nil
}
