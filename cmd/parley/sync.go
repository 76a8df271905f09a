package main

import (
	"parley.dev/client"
)

// cmdSync sends the outbox, fetches everything pending, prints it,
// acknowledges it and exits: "parley sync".
func cmdSync(c *cli, args []string) error {
	return c.withClient("sync", args, 0, func(cl *client.Client, _ []string) error {
		me, err := self(cl)
		if err != nil {
			return err
		}
		events, err := cl.Sync(c.ctx)
		n := 0
		for _, ev := range events {
			if ev.Kind == client.EventMessage {
				n++
			}
			if perr := c.printEvent(me, ev); perr != nil {
				return perr
			}
		}
		if err == nil && n == 0 {
			c.notef("no new messages")
		}
		return err
	})
}
