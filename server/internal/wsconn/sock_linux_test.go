package wsconn

import (
	"errors"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// TestShortReadSkipsTheWouldBlockRead: after a short read the next
// non-blocking read reports errWouldBlock without asking the kernel, even
// if bytes arrived meanwhile; the read after it returns them, so nothing
// is stranded (the reader's linger or epoll's level-triggered re-arm
// makes that read).
func TestShortReadSkipsTheWouldBlockRead(t *testing.T) {
	client, s := sockPair(t)
	buf := make([]byte, 64)

	if _, err := s.Read(buf); !errors.Is(err, errWouldBlock) {
		t.Fatalf("empty socket: %v, want errWouldBlock", err)
	}
	write(t, client, "hello")
	n := readSoon(t, s, buf)
	if string(buf[:n]) != "hello" {
		t.Fatalf("read %q", buf[:n])
	}
	write(t, client, "world")
	waitQueued(t, s, 5) // "world" is in the socket
	if n, err := s.Read(buf); !errors.Is(err, errWouldBlock) {
		t.Fatalf("after a short read: %d, %v; want errWouldBlock without a read", n, err)
	}
	if n, err := s.Read(buf); err != nil || string(buf[:n]) != "world" {
		t.Fatalf("the next read: %q, %v; want world", buf[:n], err)
	}

	// A full read says nothing about what is left: the next read asks.
	if _, err := s.Read(buf); !errors.Is(err, errWouldBlock) { // "world" was short
		t.Fatalf("after a short read: %v, want errWouldBlock", err)
	}
	write(t, client, "0123456789")
	waitQueued(t, s, 10)
	if n, err := s.Read(buf[:4]); err != nil || n != 4 {
		t.Fatalf("full read: %d, %v", n, err)
	}
	if n, err := s.Read(buf); err != nil || string(buf[:n]) != "456789" {
		t.Fatalf("after a full read: %q, %v; want 456789", buf[:n], err)
	}
}

// TestReadNowClearsAPassedDeadline: a linger leaves its read deadline
// set; once it has passed, a non-blocking read clears it and reads as if
// none were set (no timeout error that would close the connection).
func TestReadNowClearsAPassedDeadline(t *testing.T) {
	client, s := sockPair(t)
	buf := make([]byte, 64)
	s.SetReadDeadline(time.Now().Add(-time.Second))
	if _, err := s.Read(buf); !errors.Is(err, errWouldBlock) {
		t.Fatalf("empty socket, deadline passed: %v, want errWouldBlock", err)
	}
	write(t, client, "hello")
	if n := readSoon(t, s, buf); string(buf[:n]) != "hello" {
		t.Fatalf("read %q", buf[:n])
	}
	s.SetReadDeadline(time.Now().Add(time.Hour)) // one still ahead stays
	write(t, client, "world")
	if n := readSoon(t, s, buf); string(buf[:n]) != "world" {
		t.Fatalf("read %q", buf[:n])
	}
}

// sockPair returns a client connection and the non-blocking sockConn
// of the server's side of it.
func sockPair(t *testing.T) (net.Conn, *sockConn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	tc := server.(*net.TCPConn)
	raw, err := tc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	return client, &sockConn{TCPConn: tc, raw: raw, nonblock: true}
}

func write(t *testing.T, c net.Conn, s string) {
	t.Helper()
	if _, err := c.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
}

// waitQueued waits until s's socket holds at least n unread bytes, which
// it asks the kernel (SIOCINQ) without reading them.
func waitQueued(t *testing.T, s *sockConn, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); runtime.Gosched() {
		var queued int32 // the kernel writes a C int
		var errno syscall.Errno
		s.raw.Control(func(fd uintptr) {
			_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&queued)))
		})
		if errno != 0 {
			t.Fatal(errno)
		}
		if int(queued) >= n {
			return
		}
	}
	t.Fatalf("fewer than %d bytes reached the socket", n)
}

// readSoon retries a non-blocking read until bytes come.
func readSoon(t *testing.T, s *sockConn, buf []byte) int {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		n, err := s.Read(buf)
		if err == nil {
			return n
		}
		if !errors.Is(err, errWouldBlock) {
			t.Fatal(err)
		}
	}
	t.Fatal("nothing to read")
	return 0
}
