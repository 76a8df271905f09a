package main

import (
	"strconv"

	"parley.dev/client"
)

// cmdRegister creates the identity and this device on a relay:
// "parley register --server URL [--ca FILE] [--token T] USER".
func cmdRegister(c *cli, args []string) error {
	fs := c.flagSet("register")
	server := fs.String("server", c.getenv(envServer), "")
	ca := fs.String("ca", c.getenv(envCA), "")
	token := fs.String("token", c.getenv(envToken), "")
	rest, err := c.parse(fs, args, 1)
	if err != nil {
		return err
	}
	if *server == "" {
		return usageErrorf("register needs --server URL (or PARLEY_SERVER)")
	}
	cl, err := c.open()
	if err != nil {
		return err
	}
	defer cl.Close()
	cl.Server, cl.CAFile = *server, *ca
	a, err := cl.Register(c.ctx, rest[0], client.RegisterOptions{Token: *token})
	if err != nil {
		return err
	}
	return c.emit(map[string]any{"user": a.User, "device": a.Device, "server": *server},
		"registered "+a.User+" (device "+strconv.FormatUint(uint64(a.Device), 10)+") on "+*server)
}
