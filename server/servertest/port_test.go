package servertest

import (
	"net"
	"strconv"
	"testing"
)

// TestStartPortBelowEphemeralRange: a relay's port is one the kernel
// hands to no other process while Restart has it down.
func TestStartPortBelowEphemeralRange(t *testing.T) {
	low := ephemeralLow()
	if low == 0 {
		t.Skip("no ephemeral port range to stay below here")
	}
	r := Start(t)
	_, p, err := net.SplitHostPort(r.Addr)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(p)
	if port >= low || port < low-reservedSpan {
		t.Fatalf("relay on port %d, want one in [%d, %d)", port, low-reservedSpan, low)
	}
	r.Restart(t)
	if got := r.Addr; got != net.JoinHostPort("127.0.0.1", p) {
		t.Fatalf("restarted on %s, want port %s", got, p)
	}
}
