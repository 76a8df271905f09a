package main

import (
	"parley.dev/client"
)

// cmdVerify marks a contact verified if the number matches:
// "parley verify USER NUMBER".
func cmdVerify(c *cli, args []string) error {
	return c.withClient("verify", args, 2, func(cl *client.Client, args []string) error {
		if err := cl.Verify(c.ctx, args[0], args[1]); err != nil {
			return err
		}
		return c.emit(map[string]any{"user": args[0], "verified": true}, args[0]+" is verified")
	})
}
