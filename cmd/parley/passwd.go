package main

import (
	"parley.dev/client"
)

// cmdPasswd changes the PIN: "parley passwd". With PARLEY_PIN set, the
// new PIN comes from PARLEY_NEW_PIN.
func cmdPasswd(c *cli, args []string) error {
	fs := c.flagSet("passwd")
	if _, err := c.parse(fs, args, 0); err != nil {
		return err
	}
	old, err := c.pin("Current PIN for " + c.home + ": ")
	if err != nil {
		return err
	}
	defer clear(old)
	cl := &client.Client{Home: c.home}
	if err := cl.Unlock(c.ctx, old); err != nil {
		return c.homeError(err)
	}
	defer cl.Close()
	pin, err := c.newPIN(envNewPIN, "New PIN for "+c.home+": ")
	if err != nil {
		return err
	}
	defer clear(pin)
	if err := cl.ChangePIN(c.ctx, old, pin); err != nil {
		return err
	}
	return c.emit(map[string]any{"home": c.home}, "changed the PIN of "+c.home)
}
