package fanouttest

import (
	"cmp"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"parley.dev/internal/addr"
)

// SharedNATS returns the URL of the NATS server tests share:
// PARLEY_TEST_NATS, default nats://127.0.0.1:4222. It skips t when the
// server is unreachable, except under CI=true, where it fails t. Tests on
// a shared server keep apart by UniquePrefix.
func SharedNATS(t testing.TB) string {
	t.Helper()
	url := cmp.Or(os.Getenv("PARLEY_TEST_NATS"), "nats://127.0.0.1:4222")
	nc, err := nats.Connect(url, nats.Timeout(3*time.Second))
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("NATS at %s is required under CI=true: %v", url, err)
		}
		t.Skipf("NATS at %s unreachable: %v", url, err)
	}
	nc.Close()
	return url
}

// UniquePrefix returns a fresh subject prefix.
func UniquePrefix() string {
	return "parleytest." + addr.NewMessageID().String()[:16]
}

// NATSServer is a private NATS server on a loopback port, which a test
// may stop and start again (on the same port) without touching the
// shared one.
type NATSServer struct {
	Port int
	s    *natsserver.Server
}

// StartNATS starts a NATS server on 127.0.0.1:port (a free port if port
// is 0); t.Cleanup stops it.
func StartNATS(t testing.TB, port int) *NATSServer {
	t.Helper()
	if port == 0 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	s, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server did not start")
	}
	n := &NATSServer{Port: port, s: s}
	t.Cleanup(n.Stop)
	return n
}

// URL is the server's nats:// URL.
func (n *NATSServer) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.Port) }

// Stop shuts the server down; its clients see the connection drop.
func (n *NATSServer) Stop() {
	n.s.Shutdown()
	n.s.WaitForShutdown()
}
