package main

import (
	"errors"
	"strings"

	"parley.dev/client"
)

// cmdSend encrypts and sends one message: "parley send USER TEXT", or a
// file: "parley send USER --file PATH [CAPTION]". Its outcome is exact:
// once the message is stored, if the relay is unreachable or refuses it
// for now, it stays in the encrypted outbox, the command says "queued" and
// succeeds, and the next sync (or send) delivers it; nothing suggests
// sending it again, which would deliver it twice.
func cmdSend(c *cli, args []string) error {
	if hasGroupFlag(args) {
		return cmdSendGroup(c, args)
	}
	fs := c.flagSet("send")
	file := sendFlags(fs)
	if err := fs.Parse(args); err != nil {
		return c.flagError(fs, err)
	}
	pos := fs.Args()
	if len(pos) >= 2 && isFileFlag(pos[1]) { // "send USER --file PATH ..."
		if err := fs.Parse(pos[1:]); err != nil {
			return c.flagError(fs, err)
		}
		pos = append([]string{pos[0]}, fs.Args()...)
	}
	if *file != "" {
		if len(pos) < 1 || len(pos) > 2 {
			return usageErrorf("send --file takes USER and an optional caption, got %d argument(s)", len(pos))
		}
		return c.withClient("send", pos[:1], 1, func(cl *client.Client, a []string) error {
			return c.sendFile(cl, a[0], *file, strings.Join(pos[1:], ""))
		})
	}
	return c.withClient("send", pos, 2, func(cl *client.Client, args []string) error {
		to, text := args[0], args[1]
		id, err := cl.Send(c.ctx, to, text)
		status := "sent"
		switch {
		case errors.Is(err, client.ErrQueued):
			status = "queued"
			c.noteQueued(err, "the message waits, encrypted, in the outbox")
		case err != nil:
			return sendError(to, id != client.MessageID{}, err)
		}
		return c.emit(map[string]string{"id": id.String(), "to": to, "status": status}, status+" to "+to)
	})
}

// noteQueued says that a message (or file) waits, where (waits), and why.
func (c *cli) noteQueued(err error, waits string) {
	c.notef("queued: will be sent at the next sync")
	var re *client.RelayError
	switch {
	case errors.Is(err, client.ErrUnreachable):
		c.notef("the relay is unreachable: %s", waits)
	case errors.Is(err, client.ErrRateLimited):
		c.notef("the relay asked to slow down: %s", waits)
	case errors.As(err, &re):
		c.notef("the relay refused it for now (%s): %s", re.Code, waits)
	default:
		c.notef("%s", waits)
	}
}

// sendError adds the next steps that need the recipient's name. stored
// says whether the message was kept (held) rather than refused.
func sendError(to string, stored bool, err error) error {
	switch {
	case errors.Is(err, client.ErrIdentityChanged):
		what := "the message was not sent"
		if stored {
			what = "the message is held, not sent"
		}
		return withHints(errors.New(to+"'s identity changed since you verified it: "+what),
			"compare safety numbers with "+to+": parley safety "+to,
			"if they match, accept the new identity (held messages then go out): parley accept "+to)
	case errors.Is(err, client.ErrUnknownUser):
		return withHints(errors.New("no user "+to+" on this relay"),
			"check the name: "+to+" must have run \"parley register\" on the same relay")
	}
	return err
}

func isFileFlag(a string) bool {
	return a == "--file" || a == "-file" || strings.HasPrefix(a, "--file=") || strings.HasPrefix(a, "-file=")
}
