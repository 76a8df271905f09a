package main

import (
	"bytes"

	"parley.dev/client"
)

// cmdPasswd changes the PIN and, with --server-factor or
// --no-server-factor, turns the relay's PIN factor on or off:
// "parley passwd [--server-factor | --no-server-factor]". With PARLEY_PIN
// set, the new PIN comes from PARLEY_NEW_PIN (the same PIN keeps it).
func cmdPasswd(c *cli, args []string) error {
	fs := c.flagSet("passwd")
	on := fs.Bool("server-factor", isTrue(c.getenv(envServerFactor)), "")
	off := fs.Bool("no-server-factor", isTrue(c.getenv(envNoServerFactor)), "")
	if _, err := c.parse(fs, args, 0); err != nil {
		return err
	}
	if *on && *off {
		return usageErrorf("choose one of --server-factor and --no-server-factor")
	}
	cl, old, err := c.openWithPIN("Current PIN for " + c.home + ": ")
	if err != nil {
		return err
	}
	defer clear(old)
	defer cl.Close()
	pin, err := c.newPIN(envNewPIN, "New PIN for "+c.home+": ")
	if err != nil {
		return err
	}
	defer clear(pin)
	if *on || *off {
		if _, err := c.serverFactor(cl, old, *off); err != nil {
			return err
		}
		if *off {
			if err := cl.SetFactors(c.ctx, old, client.FactorOptions{}); err != nil {
				return err
			}
		}
	}
	if !bytes.Equal(old, pin) || !(*on || *off) {
		if err := cl.ChangePIN(c.ctx, old, pin); err != nil {
			return err
		}
	}
	return c.emit(map[string]any{"home": c.home, "server_factor": cl.RelayFactor()}, "changed the PIN of "+c.home)
}
