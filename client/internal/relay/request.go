package relay

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"parley.dev/internal/wire"
)

// Request sends an authenticated request over the connection and waits
// for its answer: the frame the matching HTTP endpoint returns, or the
// relay's *wire.Error as the error. It spends no challenge. ErrTooLarge
// means the request does not fit the connection's message limit.
func (c *Conn) Request(ctx context.Context, req *wire.Request) (wire.Frame, error) {
	ch := make(chan wire.Frame, 1)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil, c.err
	}
	c.nextID++
	id := c.nextID
	c.requests[id] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.requests, id)
		c.mu.Unlock()
	}()
	r := *req
	r.ID = id
	b, err := wire.Marshal(&r)
	if err != nil {
		return nil, err
	}
	if len(b) > int(c.welcome.MaxEnvelope)+wire.MaxOverhead {
		return nil, errTooLarge
	}
	if err := c.writeRaw(ctx, b); err != nil {
		return nil, err
	}
	select {
	case f, ok := <-ch:
		if !ok {
			return nil, c.Err()
		}
		if e, isErr := f.(*wire.Error); isErr {
			return nil, e
		}
		return f, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// errTooLarge: a request beyond the connection's message limit, which
// goes over HTTP instead.
var errTooLarge = errors.New("relay: request too large for the connection")

// track remembers conn as the device's live connection while it is
// open, so that requests go over it instead of HTTP.
func (c *Client) track(conn *Conn) {
	c.liveMu.Lock()
	c.live = append(c.live, conn)
	c.liveMu.Unlock()
	go func() {
		<-conn.done
		c.liveMu.Lock()
		c.live = slices.DeleteFunc(c.live, func(x *Conn) bool { return x == conn })
		c.liveMu.Unlock()
	}()
}

// liveConn returns an open connection of the device a, or nil.
func (c *Client) liveConn(a *Auth) *Conn {
	c.liveMu.Lock()
	defer c.liveMu.Unlock()
	for i := len(c.live) - 1; i >= 0; i-- {
		if conn := c.live[i]; conn.welcome.Address == a.Address && conn.Err() == nil {
			return conn
		}
	}
	return nil
}

// call makes one authenticated request: over the device's live
// connection when it has one (no challenge), else over HTTP with a fresh
// challenge. A request the connection could not carry (it ended, or the
// request is too large for it) goes over HTTP; the relay's own answer,
// error or not, is final.
func call[F wire.Frame](ctx context.Context, c *Client, a *Auth, req *wire.Request, method, path string, body []byte) (F, error) {
	var zero F
	if conn := c.liveConn(a); conn != nil {
		f, err := conn.Request(ctx, req)
		var we *wire.Error
		switch {
		case err == nil:
			out, ok := f.(F)
			if !ok {
				return zero, fmt.Errorf("%w: %s answered with %s", ErrProtocol, req.Op, f.Type())
			}
			return out, nil
		case errors.As(err, &we), ctx.Err() != nil:
			return zero, err
		}
		c.log.Debug("request over the connection failed; using HTTP", "op", req.Op.String(), "err", err)
	}
	return request[F](ctx, c, method, path, body, a)
}
