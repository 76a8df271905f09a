package relay

import (
	"fmt"
	"testing"

	"parley.dev/internal/addr"
	"parley.dev/internal/wire"
)

// TestSplitRecipients: a group message for more devices than one frame
// holds goes in several frames, each within the relay's limit and
// wire.MaxGroupRecipients, together naming every device once.
func TestSplitRecipients(t *testing.T) {
	for _, tc := range []struct{ maxEnvelope, payload, devices int }{
		{wire.DefaultMaxEnvelope, 300, 10},
		{wire.DefaultMaxEnvelope, 300, 2 * wire.MaxGroupRecipients},
		{4096, 3000, 500},
		{wire.DefaultMaxEnvelope, 200 << 10, 3000},
	} {
		c := &Conn{welcome: wire.Welcome{MaxEnvelope: uint32(tc.maxEnvelope)}}
		var to []addr.Address
		for i := range tc.devices {
			to = append(to, addr.Address{User: addr.UserID(fmt.Sprintf("user-with-a-long-name-%06d", i)), Device: 1})
		}
		payload := make([]byte, tc.payload)
		n := 0
		for _, part := range c.splitRecipients(len(payload), to) {
			b, err := wire.Marshal(&wire.GroupSubmit{ID: addr.MessageID{1}, Payload: payload, To: part})
			if err != nil {
				t.Fatalf("%+v: %v", tc, err)
			}
			if len(b) > tc.maxEnvelope+wire.MaxOverhead {
				t.Fatalf("%+v: a frame of %d bytes", tc, len(b))
			}
			for i, a := range part {
				if a != to[n+i] {
					t.Fatalf("%+v: recipient %d out of place", tc, n+i)
				}
			}
			n += len(part)
		}
		if n != len(to) {
			t.Fatalf("%+v: %d of %d recipients in the frames", tc, n, len(to))
		}
	}
}
