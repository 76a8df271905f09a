package servertest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
)

// A relay that Restart brings back on its address needs a port that no
// other process takes while it is down. Ports from "127.0.0.1:0" come from
// the kernel's ephemeral range, which every other test process (and
// every outgoing connection) on the machine draws from too: under
// `go test ./...` another package's test took a stopped relay's port
// before it came back ("bind: address already in use"). So Start picks
// its port below that range, where the kernel hands out none.

// reservedSpan is how many ports below the ephemeral range are tried:
// 20768-32767 on Linux's default range, above the usual service ports.
const reservedSpan = 12000

// listenRestartable listens on a free loopback port below the ephemeral
// range, or on any port where the range is unknown (not Linux).
func listenRestartable() (net.Listener, error) {
	if low := ephemeralLow(); low > reservedSpan+1024 {
		for range 100 {
			port := low - 1 - rand.IntN(reservedSpan)
			if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
				return l, nil
			}
		}
	}
	return net.Listen("tcp", "127.0.0.1:0")
}

// ephemeralLow returns the first port of Linux's ephemeral range, or 0.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	var low, high int
	if _, err := fmt.Sscan(string(b), &low, &high); err != nil {
		return 0
	}
	return low
}
