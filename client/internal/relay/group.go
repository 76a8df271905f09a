package relay

import (
	"context"
	"fmt"
	"net/http"
	"slices"

	"parley.dev/internal/addr"
	"parley.dev/internal/wire"
)

// groupWaiters holds the callers waiting for GroupSubmitResults, by
// message ID, oldest first (one message may go out in several frames).
type groupWaiters map[addr.MessageID][]chan *wire.GroupSubmitResult

// SubmitGroup sends one group message for many devices and waits for the
// relay's answer once every copy is durable. Recipients that do not fit
// one frame of the relay's size limit go in further frames with the same
// message ID; the results are merged. On error the result is nil and the
// whole submission may be repeated (the relay stores each copy once).
func (c *Conn) SubmitGroup(ctx context.Context, id addr.MessageID, payload []byte, to []addr.Address) (*wire.GroupSubmitResult, error) {
	to = slices.Clone(to)
	slices.SortFunc(to, func(a, b addr.Address) int {
		if wire.AddressLess(a, b) {
			return -1
		}
		return 1
	})
	to = slices.Compact(to)
	out := &wire.GroupSubmitResult{ID: id}
	for _, part := range c.splitRecipients(len(payload), to) {
		r, err := c.submitGroupFrame(ctx, &wire.GroupSubmit{ID: id, Payload: payload, To: part})
		if err != nil {
			return nil, err
		}
		out.Stored += r.Stored
		out.Failures = append(out.Failures, r.Failures...)
	}
	return out, nil
}

// splitRecipients cuts to into parts whose frames fit the relay's limit
// (its envelope size plus the frame overhead it allows) and
// wire.MaxGroupRecipients.
func (c *Conn) splitRecipients(payload int, to []addr.Address) [][]addr.Address {
	limit := int(c.welcome.MaxEnvelope) + wire.MaxOverhead
	var parts [][]addr.Address
	size, start := wire.HeaderLen+addr.MessageIDLen+3+payload+2, 0
	for i, a := range to {
		n := 1 + len(a.User) + 4
		if i > start && (size+n > limit || i-start == wire.MaxGroupRecipients) {
			parts = append(parts, to[start:i])
			start, size = i, wire.HeaderLen+addr.MessageIDLen+3+payload+2
		}
		size += n
	}
	return append(parts, to[start:])
}

func (c *Conn) submitGroupFrame(ctx context.Context, m *wire.GroupSubmit) (*wire.GroupSubmitResult, error) {
	ch := make(chan *wire.GroupSubmitResult, 1)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil, c.err
	}
	if c.groups == nil {
		c.groups = groupWaiters{}
	}
	c.groups[m.ID] = append(c.groups[m.ID], ch)
	c.mu.Unlock()
	defer c.forgetGroup(m.ID, ch)
	if err := c.write(ctx, m); err != nil {
		return nil, err
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return nil, c.Err()
		}
		return r, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *Conn) forgetGroup(id addr.MessageID, ch chan *wire.GroupSubmitResult) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.groups[id] = slices.DeleteFunc(c.groups[id], func(x chan *wire.GroupSubmitResult) bool { return x == ch })
	if len(c.groups[id]) == 0 {
		delete(c.groups, id)
	}
}

// groupResult hands a GroupSubmitResult to its oldest waiter.
func (c *Conn) groupResult(r *wire.GroupSubmitResult) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if chs := c.groups[r.ID]; len(chs) > 0 {
		chs[0] <- r
		c.groups[r.ID] = chs[1:]
	}
}

// closeGroupWaiters wakes every waiter when the connection ends.
func (c *Conn) closeGroupWaiters() {
	for id, chs := range c.groups {
		for _, ch := range chs {
			close(ch)
		}
		delete(c.groups, id)
	}
}

// DeviceLists returns the identities and devices of users (at most
// wire.MaxDeviceListsBatch per request; more are asked in several), as the
// relay claims them: the caller verifies each certificate. Users the
// relay does not know are missing from the map.
func (c *Client) DeviceLists(ctx context.Context, a Auth, users []addr.UserID) (map[addr.UserID]*wire.DeviceList, error) {
	users = slices.Clone(users)
	slices.Sort(users)
	users = slices.Compact(users)
	out := make(map[addr.UserID]*wire.DeviceList, len(users))
	for len(users) > 0 {
		batch := users[:min(len(users), wire.MaxDeviceListsBatch)]
		users = users[len(batch):]
		m := &wire.DeviceListsRequest{Users: batch}
		body, err := wire.Marshal(m)
		if err != nil {
			return nil, err
		}
		r, err := call[*wire.DeviceLists](ctx, c, &a, &wire.Request{Op: wire.OpDeviceLists, Users: m},
			http.MethodPost, pathDeviceLists, body)
		if err != nil {
			return nil, err
		}
		for i := range r.Lists {
			l := &r.Lists[i]
			if !slices.Contains(batch, l.User) {
				return nil, fmt.Errorf("%w: device list of %q, not asked for", ErrProtocol, l.User)
			}
			out[l.User] = l
		}
	}
	return out, nil
}

// pathDeviceLists is the endpoint of DeviceLists.
const pathDeviceLists = "/v1/devices"
