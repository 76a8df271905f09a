package fanout

import (
	"testing"

	"parley.dev/internal/addr"
)

// FuzzSubject: every valid device's subject parses back to it, and no
// subject (a NATS server could send anything) parses to an invalid
// device or panics.
func FuzzSubject(f *testing.F) {
	n := &NATS{prefix: DefaultNATSPrefix}
	f.Add("alice", uint32(1), "parley.wake.alice.1")
	f.Add("carol.smith", uint32(7), "parley.wake.carol~smith.7")
	f.Add("x", uint32(4294967295), "parley.wake..1")
	f.Add("a-b_c", uint32(2), "parley.wake.a.b.c.99999999999")
	f.Fuzz(func(t *testing.T, user string, dev uint32, subject string) {
		a := addr.Address{User: addr.UserID(user), Device: addr.DeviceID(dev)}
		if a.Valid() {
			if got, ok := n.parseSubject(n.subject(a)); !ok || got != a {
				t.Fatalf("subject %q parsed to %v, %v", n.subject(a), got, ok)
			}
		}
		if got, ok := n.parseSubject(subject); ok && !got.Valid() {
			t.Fatalf("subject %q parsed to invalid %v", subject, got)
		}
	})
}
