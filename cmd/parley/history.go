package main

import (
	"parley.dev/client"
)

// cmdHistory prints the conversation with one user: "parley history USER".
func cmdHistory(c *cli, args []string) error {
	if hasGroupFlag(args) {
		return cmdHistoryGroup(c, args)
	}
	return c.withClient("history", args, 1, func(cl *client.Client, args []string) error {
		me, err := self(cl)
		if err != nil {
			return err
		}
		msgs, err := cl.History(c.ctx, args[0])
		if err != nil {
			return err
		}
		for i := range msgs {
			if err := c.printMessage(me, &msgs[i]); err != nil {
				return err
			}
		}
		return nil
	})
}
