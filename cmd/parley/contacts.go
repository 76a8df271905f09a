package main

import (
	"fmt"

	"parley.dev/client"
)

// cmdContacts lists the contacts: "parley contacts".
func cmdContacts(c *cli, args []string) error {
	return c.withClient("contacts", args, 0, func(cl *client.Client, _ []string) error {
		contacts, err := cl.Contacts(c.ctx)
		if err != nil {
			return err
		}
		for _, ct := range contacts {
			state := "not verified"
			switch {
			case ct.Held:
				state = "identity changed, sending held: parley safety " + ct.User
			case ct.Verified:
				state = "verified"
			}
			line := fmt.Sprintf("%s\t%s", ct.User, state)
			v := map[string]any{"user": ct.User, "verified": ct.Verified, "held": ct.Held}
			if err := c.emit(v, line); err != nil {
				return err
			}
		}
		return nil
	})
}
