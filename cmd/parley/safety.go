package main

import (
	"parley.dev/client"
)

// cmdSafety prints the safety number shared with a user:
// "parley safety USER".
func cmdSafety(c *cli, args []string) error {
	return c.withClient("safety", args, 1, func(cl *client.Client, args []string) error {
		sn, err := cl.SafetyNumber(c.ctx, args[0])
		if err != nil {
			return err
		}
		if !c.json {
			c.notef("compare this number with %s's, in person or on a call you trust;", args[0])
			c.notef("if they match, run: parley verify %s NUMBER", args[0])
		}
		return c.emit(map[string]any{"user": args[0], "number": sn.Digits, "qr": sn.QR}, sn.String())
	})
}
