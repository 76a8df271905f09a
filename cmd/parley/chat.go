package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"strings"
	"sync"

	"parley.dev/client"
)

// quitCommand ends a chat.
const quitCommand = "/quit"

// cmdChat is an interactive conversation: "parley chat USER". Lines typed
// are sent to USER; USER's messages print as they arrive; /quit (or the end
// of the input) leaves.
func cmdChat(c *cli, args []string) error {
	fs := c.flagSet("chat")
	rest, err := c.parse(fs, args, 1)
	if err != nil {
		return err
	}
	cl, err := c.open()
	if err != nil {
		return err
	}
	defer cl.Close()
	me, err := self(cl)
	if err != nil {
		return err
	}
	ch := &chat{cli: c, cl: cl, me: me, peer: rest[0]}
	return ch.run()
}

// chat is one "parley chat" session.
type chat struct {
	*cli
	cl       *client.Client
	me, peer string
}

func (ch *chat) run() error {
	ctx, cancel := context.WithCancel(ch.ctx)
	defer cancel()
	ready := make(chan struct{})
	var once sync.Once
	listened := make(chan error, 1)
	go func() {
		listened <- ch.cl.Listen(ctx, func(ev client.Event) {
			if ev.Kind == client.EventSynced || ev.Kind == client.EventError {
				once.Do(func() { close(ready) }) // caught up, or offline: start typing
			}
			ch.show(ev)
		})
	}()
	select {
	case <-ready:
	case err := <-listened:
		return err
	}
	ch.notef("chatting with %s as %s: type a line and press Enter to send it, %s to leave", ch.peer, ch.me, quitCommand)
	err := ch.typeLoop(ctx, readLines(ch.stdin), listened)
	cancel()
	if lerr := <-listened; err == nil && !errors.Is(lerr, context.Canceled) {
		err = lerr
	}
	return err
}

// show prints an event of the conversation; other users' messages are
// only mentioned. EventSent is not shown: the SDK reports it for every
// line typed (each passes through the outbox), and a line queued while
// offline was announced as such.
func (ch *chat) show(ev client.Event) {
	switch {
	case ev.Kind == client.EventSynced, ev.Kind == client.EventSent:
	case ev.Kind == client.EventMessage && ev.Message.Contact != ch.peer:
		ch.notef("new message from %s: parley history %s", ev.Message.Contact, ev.Message.Contact)
	default:
		ch.printEvent(ch.me, ev)
	}
}

// typeLoop sends each line typed until /quit, the end of the input, or
// Listen failing.
func (ch *chat) typeLoop(ctx context.Context, lines <-chan string, listened chan error) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-listened:
			listened <- err // for run
			return err
		case line, ok := <-lines:
			line = strings.TrimSpace(line)
			switch {
			case !ok || line == quitCommand:
				return nil
			case line == "":
				continue
			}
			if err := ch.send(ctx, line); err != nil {
				return err
			}
		}
	}
}

// send sends one line. Errors the user can act on without leaving the
// chat are printed; others end it.
func (ch *chat) send(ctx context.Context, text string) error {
	id, err := ch.cl.Send(ctx, ch.peer, text)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, client.ErrUnreachable):
		ch.notef("the relay is unreachable: queued in the outbox, it goes out when the connection is back")
		return nil
	case errors.Is(err, client.ErrQueued):
		ch.notef("queued: the relay refused it for now; it goes out with the next sync")
		return nil
	case errors.Is(err, client.ErrIdentityChanged), errors.Is(err, client.ErrInvalid):
		msg, hints := explain(sendError(ch.peer, id != client.MessageID{}, err))
		ch.notef("error: %s", msg)
		for _, h := range hints {
			ch.notef("hint: %s", h)
		}
		return nil
	}
	return sendError(ch.peer, id != client.MessageID{}, err)
}

// readLines delivers the lines of r on a channel, closed at the end of the
// input. The goroutine ends with the input.
func readLines(r io.Reader) <-chan string {
	lines := make(chan string)
	go func() {
		defer close(lines)
		s := bufio.NewScanner(r)
		for s.Scan() {
			lines <- s.Text()
		}
	}()
	return lines
}
