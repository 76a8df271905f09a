package main

import (
	"parley.dev/client"
)

// cmdAccept accepts a contact's new identity: "parley accept USER".
func cmdAccept(c *cli, args []string) error {
	return c.withClient("accept", args, 1, func(cl *client.Client, args []string) error {
		if err := cl.AcceptIdentity(c.ctx, args[0]); err != nil {
			return err
		}
		c.notef("held messages to %s will go out at the next send or sync", args[0])
		c.notef("hint: verify the new number too: parley safety %s", args[0])
		return c.emit(map[string]any{"user": args[0], "accepted": true}, "accepted "+args[0]+"'s new identity")
	})
}
