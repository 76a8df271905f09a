package main

import (
	"fmt"

	"parley.dev/client"
)

// cmdDeleteAccount erases the account at the relay and then this device's
// vault: "parley delete-account USER". USER must be the vault's own user,
// typed out as a confirmation.
func cmdDeleteAccount(c *cli, args []string) error {
	return c.withClient("delete-account", args, 1, func(cl *client.Client, args []string) error {
		me, err := cl.Address()
		if err != nil {
			return err
		}
		if args[0] != me.User {
			return usageErrorf("this vault is %s's: type %q to delete that account", me.User, me.User)
		}
		if err := cl.DeleteAccount(c.ctx); err != nil {
			return err
		}
		return c.emit(map[string]any{"deleted": me.User, "home": c.home},
			fmt.Sprintf("deleted the account %s at the relay, and the vault in %s", me.User, c.home))
	})
}
