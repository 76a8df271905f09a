package server

import (
	"context"

	"parley.dev/internal/addr"
	"parley.dev/internal/wire"
)

// request answers one authenticated request carried over the WebSocket:
// the same operations as the HTTP endpoints, with the connection's
// authentication standing in for a challenge and proof, so that a device
// already connected spends no challenge to send. Each request counts
// against the device's allowance of WebSocket requests (RequestRate),
// larger than that of authenticated HTTP requests, which each verify a
// signature; the bundle limit applies inside bundle.
func (c *conn) request(m *wire.Request) {
	c.ws.WaitBuffered(maxQueued) // answers to a client that does not read wait
	ctx := c.r.ctx
	var f wire.Frame
	var werr *wire.Error
	if werr = c.r.allowRequest(c.addr); werr == nil {
		f, werr = c.r.serveRequest(ctx, c.addr, m)
	}
	if werr != nil {
		c.r.metrics.reject(werr.Code)
		f = werr
	}
	c.send(&wire.Response{ID: m.ID, Answer: f})
}

func (r *relay) serveRequest(ctx context.Context, dev addr.Address, m *wire.Request) (wire.Frame, *wire.Error) {
	switch m.Op {
	case wire.OpDevices:
		return r.deviceList(ctx, m.User)
	case wire.OpBundle:
		return r.bundle(ctx, dev, m.Target)
	case wire.OpPreKeyUpload:
		return r.uploadPreKeys(ctx, dev, m.Upload)
	case wire.OpPreKeyStatus:
		return r.preKeyStatusOf(ctx, dev)
	case wire.OpRevoke:
		return r.revoke(ctx, dev, m.Target)
	case wire.OpDeviceLists:
		return r.deviceLists(ctx, m.Users)
	case wire.OpPushRegister:
		return r.setPush(ctx, dev, m.Push)
	case wire.OpPushClear:
		return r.clearPush(ctx, dev)
	}
	return nil, wire.Errorf(wire.CodeMalformed, "unknown request")
}
