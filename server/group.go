package server

import (
	"context"
	"errors"
	"net/http"

	"parley.dev/internal/addr"
	"parley.dev/internal/store"
	"parley.dev/internal/wire"
)

// MaxGroupFanoutBytes bounds what one GroupSubmit may make the relay
// store: the payload times the number of recipients. The relay keeps a
// copy per mailbox, so without it one upload of a large payload to
// thousands of devices would cost thousands of times its size on disk.
const MaxGroupFanoutBytes = 64 << 20

// submitGroup stores one group message in the mailbox of each recipient
// and answers once every copy is durable.
func (c *conn) submitGroup(m *wire.GroupSubmit) {
	res := &wire.GroupSubmitResult{ID: m.ID}
	fail := func(code wire.Code) {
		for _, to := range m.To {
			res.Failures = append(res.Failures, wire.GroupFailure{To: to, Code: code})
		}
		c.r.metrics.reject(code)
	}
	switch {
	case len(m.Payload) > c.r.maxEnvelope, len(m.Payload)*len(m.To) > MaxGroupFanoutBytes:
		fail(wire.CodeTooLarge)
	default:
		c.ws.WaitBuffered(maxQueued)
		c.storeGroup(m, res)
	}
	c.send(res)
}

// storeGroup submits the copies in batches of store.MaxBatch and fills res.
func (c *conn) storeGroup(m *wire.GroupSubmit, res *wire.GroupSubmitResult) {
	envs := make([]store.Envelope, 0, len(m.To))
	now := c.r.now() // set here, so that a direct delivery shows the stored time
	for _, to := range m.To {
		if to == c.addr {
			res.Failures = append(res.Failures, wire.GroupFailure{To: to, Code: wire.CodeForbidden})
			continue
		}
		envs = append(envs, store.Envelope{To: to, From: c.addr, ID: m.ID, Kind: store.KindGroup, Created: now, Payload: m.Payload})
	}
	for len(envs) > 0 {
		batch := envs[:min(len(envs), store.MaxBatch)]
		envs = envs[len(batch):]
		// The relay's context, as for Submit: what was read is stored.
		results, err := c.r.store.Submit(c.r.ctx, batch)
		if err != nil {
			code := wire.CodeMalformed
			if !errors.Is(err, store.ErrInvalid) {
				code = c.r.internal("group submit", err).Code
			}
			for _, e := range batch {
				res.Failures = append(res.Failures, wire.GroupFailure{To: e.To, Code: code})
			}
			continue
		}
		for i, r := range results {
			c.groupOutcome(&batch[i], r, res)
		}
	}
}

func (c *conn) groupOutcome(e *store.Envelope, r store.SubmitResult, res *wire.GroupSubmitResult) {
	var code wire.Code
	switch {
	case errors.Is(r.Err, store.ErrNotFound):
		code = wire.CodeUnknownDevice
	case errors.Is(r.Err, store.ErrMailboxFull):
		code = wire.CodeMailboxFull
	case r.Err != nil:
		code = c.r.internal("group submit", r.Err).Code
	case r.Duplicate:
		c.r.metrics.duplicates.Add(1)
		res.Stored++
		return
	default:
		res.Stored++
		c.r.metrics.queued.Add(1)
		e.Seq = r.Seq
		c.r.conns.offer(e)
		c.r.publishMail(e.To, e.Seq)
		return
	}
	c.r.metrics.reject(code)
	res.Failures = append(res.Failures, wire.GroupFailure{To: e.To, Code: code})
}

// maxDeviceListsBody bounds a DeviceListsRequest body.
const maxDeviceListsBody = wire.HeaderLen + 2 + wire.MaxDeviceListsBatch*(1+addr.MaxUserIDLen)

// handleDeviceLists answers the device lists of up to
// wire.MaxDeviceListsBatch users in one request (a group's members), as
// handleDevices does for one; unknown users are left out.
func (r *relay) handleDeviceLists(w http.ResponseWriter, req *http.Request, _ store.Device, body []byte) {
	m, err := wire.ParseAs[*wire.DeviceListsRequest](body)
	if err != nil {
		r.writeError(w, asWireError(err))
		return
	}
	f, werr := r.deviceLists(req.Context(), m)
	r.answer(w, f, werr)
}

// deviceLists reads the device lists of the users of m that exist.
func (r *relay) deviceLists(ctx context.Context, m *wire.DeviceListsRequest) (wire.Frame, *wire.Error) {
	out := &wire.DeviceLists{Lists: []wire.DeviceList{}}
	for _, u := range m.Users {
		f, werr := r.deviceList(ctx, u)
		switch {
		case werr != nil && werr.Code == wire.CodeUnknownUser:
			continue
		case werr != nil:
			return nil, werr
		}
		out.Lists = append(out.Lists, *f.(*wire.DeviceList))
	}
	return out, nil
}
