package mobile

import (
	"context"
	"errors"

	"parley.dev/client"
)

// Listener receives what happens, from Start's live connection and from
// Wake. Its methods are called from one background thread, one at a
// time and in order; every message is stored in the vault before it is
// reported, so History is the record and these are notifications.
// Implementations must return quickly and must not call Stop or Lock
// (post to the app's main thread for that).
type Listener interface {
	// OnMessage reports a new message, incoming or sent from another
	// device of this user.
	OnMessage(m *Message)
	// OnDelivery reports a change in a message's status: "sent" (it
	// waited in the outbox and the relay now has it), "expired" (no
	// device of the recipient fetched it in time) or "downloaded" (its
	// file is now in the vault).
	OnDelivery(messageID, status string)
	// OnIdentityChanged reports that user's identity key changed. held is
	// true when they were verified: sending to them is held until
	// AcceptIdentity or Verify.
	OnIdentityChanged(user string, held bool)
	// OnGroupChanged reports a change to a group (this device joined,
	// someone was added, removed, left ...).
	OnGroupChanged(c *GroupChange)
	// OnTimer reports that the disappearing timer of the conversation
	// with user changed to timerMs (0: off); outgoing is true when this
	// user changed it on another device.
	OnTimer(user string, timerMs int64, outgoing bool)
	// OnError reports what failed without stopping the connection: a
	// message that could not be read (parley:undecryptable, with its ID,
	// to show "a message could not be decrypted"), a message or file that
	// could not be sent (its ID), a refused group change, a lost
	// connection (parley:unreachable; it reconnects). message starts with
	// the error's code; messageID is "" when no message is concerned.
	OnError(message, messageID string)
	// OnConnection reports the live connection's state: "connecting",
	// "online" (everything waiting was received; live messages follow),
	// "offline" (lost; it reconnects, waiting 1 s, then longer, up to a
	// minute) or "stopped" (Stop, Lock, or an error retrying cannot cure,
	// reported to OnError first).
	OnConnection(state string)
}

// SetListener sets the Listener that Start and Wake report to; nil
// reports nothing.
func (m *Client) SetListener(l Listener) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.listener = l
}

// liveConn is a running Start.
type liveConn struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// Start opens the live connection in the background: it receives what
// waits, then live messages, sends the outbox, and reconnects by itself
// after a drop, reporting to the Listener until Stop or Lock. Call it
// when the app comes to the foreground (onStart, sceneWillEnterForeground)
// and Stop when it leaves. Starting a started Client does nothing.
func (m *Client) Start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.c == nil {
		return wrap(client.ErrNotOpen)
	}
	if m.live != nil {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	live := &liveConn{cancel: cancel, done: make(chan struct{})}
	m.live = live
	go m.listen(ctx, m.c, m.listener, live)
	return nil
}

func (m *Client) listen(ctx context.Context, c *client.Client, l Listener, live *liveConn) {
	defer close(live.done)
	report(l, func(l Listener) { l.OnConnection("connecting") })
	err := c.Listen(ctx, func(e client.Event) { dispatch(l, e) })
	if ctx.Err() == nil && err != nil {
		report(l, func(l Listener) { l.OnError(wrap(err).Error(), "") })
	}
	m.mu.Lock()
	if m.live == live {
		m.live = nil
	}
	m.mu.Unlock()
	report(l, func(l Listener) { l.OnConnection("stopped") })
}

// Stop closes the live connection and returns once the Listener has had
// its last call ("stopped"). Stopping a stopped Client does nothing.
func (m *Client) Stop() {
	m.mu.Lock()
	live := m.live
	m.live = nil
	m.mu.Unlock()
	if live != nil {
		live.cancel()
		<-live.done
	}
}

// WakeResult says what a Wake did.
type WakeResult struct {
	// Messages counts the new messages received (reported to OnMessage).
	Messages int32
	// Events counts everything reported to the Listener.
	Events int32
	// Live is true when the live connection was running: it receives by
	// itself, so Wake did nothing.
	Live bool
}

// Wake is for a push wake-up in the background: it connects, sends the
// outbox, receives, stores and acknowledges every message waiting,
// reports them to the Listener, and disconnects, all within timeoutMs
// (iOS gives about 30 s; pass less). It returns when the relay says the
// mailbox is drained. On an error (parley:timeout, parley:unreachable,
// parley:canceled after Cancel) what was received is stored and
// reported, and the rest waits for the next Wake or Start. While the
// live connection runs, Wake does nothing.
func (m *Client) Wake(timeoutMs int64) (*WakeResult, error) {
	m.mu.Lock()
	live, l := m.live != nil, m.listener
	m.mu.Unlock()
	if live {
		return &WakeResult{Live: true}, nil
	}
	var events []client.Event
	err := m.do(timeoutMs, func(ctx context.Context, c *client.Client) (err error) {
		events, err = c.Sync(ctx)
		return err
	})
	if errors.Is(err, client.ErrListening) {
		return &WakeResult{Live: true}, nil
	}
	res := &WakeResult{Events: int32(len(events))}
	for _, e := range events {
		if e.Kind == client.EventMessage {
			res.Messages++
		}
		dispatch(l, e)
	}
	return res, err
}

// report calls f with l unless l is nil.
func report(l Listener, f func(Listener)) {
	if l != nil {
		f(l)
	}
}

// dispatch hands one client event to the Listener's method for it.
func dispatch(l Listener, e client.Event) {
	if l == nil {
		return
	}
	id := ""
	if e.Message != nil {
		id = e.Message.ID.String()
	}
	switch e.Kind {
	case client.EventMessage:
		l.OnMessage(newMessage(e.Message))
	case client.EventSent:
		l.OnDelivery(id, "sent")
	case client.EventExpired:
		l.OnDelivery(id, "expired")
	case client.EventDownloaded:
		l.OnDelivery(id, "downloaded")
	case client.EventIdentityChanged:
		l.OnIdentityChanged(e.Identity.User, e.Identity.Held)
	case client.EventGroupChanged:
		l.OnGroupChanged(newGroupChange(e.Group))
	case client.EventTimer:
		l.OnTimer(e.Timer.Contact, e.Timer.Timer.Milliseconds(), e.Timer.Outgoing)
	case client.EventSynced:
		l.OnConnection("online")
	case client.EventError, client.EventGroupRefused:
		l.OnError(wrap(e.Err).Error(), id)
		if e.Message == nil && errors.Is(e.Err, client.ErrUnreachable) {
			l.OnConnection("offline")
		}
	}
}
