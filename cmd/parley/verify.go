package main

import (
	"strings"

	"parley.dev/client"
)

// safetyGroups is how many groups of 5 digits a safety number shows.
const safetyGroups = 12

// cmdVerify marks a contact verified if the number matches:
// "parley verify USER NUMBER". The number may be one (quoted) argument or
// typed as it is shown, 12 groups of digits without quotes.
func cmdVerify(c *cli, args []string) error {
	return c.withClientRange("verify", args, 2, 1+safetyGroups, func(cl *client.Client, args []string) error {
		user, number := args[0], strings.Join(args[1:], " ")
		if err := cl.Verify(c.ctx, user, number); err != nil {
			return err
		}
		return c.emit(map[string]any{"user": user, "verified": true}, user+" is verified")
	})
}
