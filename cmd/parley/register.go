package main

import (
	"errors"
	"fmt"
	"strconv"

	"parley.dev/client"
)

// cmdRegister creates the identity and this device on a relay and, unless
// --no-server-factor, has the relay limit PIN guesses for the vault:
// "parley register --server URL [--ca FILE] [--token T] [--no-server-factor] USER".
// Run again on a registered device, it turns the relay's factor on if it
// is off.
func cmdRegister(c *cli, args []string) error {
	fs := c.flagSet("register")
	server := fs.String("server", c.getenv(envServer), "")
	ca := fs.String("ca", c.getenv(envCA), "")
	token := fs.String("token", c.getenv(envToken), "")
	noFactor := fs.Bool("no-server-factor", isTrue(c.getenv(envNoServerFactor)), "")
	rest, err := c.parse(fs, args, 1)
	if err != nil {
		return err
	}
	if *server == "" {
		return usageErrorf("register needs --server URL (or PARLEY_SERVER)")
	}
	cl, pin, err := c.openWithPIN("PIN for " + c.home + ": ")
	if err != nil {
		return err
	}
	defer clear(pin)
	defer cl.Close()
	cl.Server, cl.CAFile = *server, *ca
	a, err := cl.Register(c.ctx, rest[0], client.RegisterOptions{Token: *token})
	again := errors.Is(err, client.ErrRegistered) && a.User == rest[0] && !*noFactor && !cl.RelayFactor()
	if err != nil && !again {
		return err
	}
	factor, err := c.serverFactor(cl, pin, *noFactor)
	if err != nil {
		return withHints(fmt.Errorf("registered %s, but the relay's PIN factor is not on: %w", a.User, err),
			"run the same \"parley register\" again to retry")
	}
	text := "registered " + a.User + " (device " + strconv.FormatUint(uint64(a.Device), 10) + ") on " + *server
	if again {
		text = a.User + " was registered already; the relay's PIN factor is now on"
	}
	return c.emit(map[string]any{"user": a.User, "device": a.Device, "server": *server, "server_factor": factor}, text)
}

// serverFactor turns the relay's PIN factor on, and says what that means,
// or warns that the vault stays protected by its PIN alone.
func (c *cli) serverFactor(cl *client.Client, pin []byte, off bool) (bool, error) {
	if off {
		c.notef("warning: --no-server-factor: this vault is protected by its PIN alone; a copy of its files can be guessed offline")
		return false, nil
	}
	if err := cl.SetFactors(c.ctx, pin, client.FactorOptions{Relay: true}); err != nil {
		return false, err
	}
	n, err := cl.RelayAttemptsLeft(c.ctx)
	if err != nil {
		return true, err
	}
	c.notef("the relay now limits PIN guesses: %d wrong in a row destroy this vault for good, and unlocking needs the relay", n)
	return true, nil
}
