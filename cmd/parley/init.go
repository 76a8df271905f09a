package main

import (
	"parley.dev/client"
)

// cmdInit creates the vault: "parley init".
func cmdInit(c *cli, args []string) error {
	fs := c.flagSet("init")
	if _, err := c.parse(fs, args, 0); err != nil {
		return err
	}
	pin, err := c.newPIN(envPIN, "New PIN for "+c.home+": ")
	if err != nil {
		return err
	}
	defer clear(pin)
	cl := &client.Client{Home: c.home}
	if err := cl.Create(c.ctx, pin); err != nil {
		return c.homeError(err)
	}
	if err := cl.Close(); err != nil {
		return err
	}
	if err := c.emit(map[string]string{"home": c.home}, "created a vault in "+c.home); err != nil {
		return err
	}
	c.notef("next: parley register --server URL USER")
	return nil
}
