package mobile

import (
	"context"
	"time"

	"parley.dev/client"
)

// SetTimer sets the disappearing timer of the conversation with user, in
// milliseconds (whole seconds, at most a year; 0 turns it off): messages
// sent after it, from either side, are deleted on every device that long
// after they were sent. Both users' devices are told inside the encrypted
// session (OnTimer). A tenant policy with a maximum timer refuses a longer
// one, or 0 (parley:policy). parley:queued: the change is stored here and
// goes out with the outbox.
func (m *Client) SetTimer(user string, timerMs, timeoutMs int64) error {
	return m.do(timeoutMs, func(ctx context.Context, c *client.Client) error {
		return c.SetTimer(ctx, user, time.Duration(timerMs)*time.Millisecond)
	})
}

// Timer returns the disappearing timer of the conversation with user, in
// milliseconds (0: none). It reads the vault only.
func (m *Client) Timer(user string) (int64, error) {
	var d time.Duration
	err := m.do(0, func(ctx context.Context, c *client.Client) (err error) {
		d, err = c.Timer(ctx, user)
		return err
	})
	return d.Milliseconds(), err
}
