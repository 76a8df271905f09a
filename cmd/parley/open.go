package main

import (
	"errors"
	"strings"

	"parley.dev/client"
)

// open unlocks the vault in --home with the PIN. The caller closes it.
func (c *cli) open() (*client.Client, error) {
	cl, pin, err := c.openWithPIN("PIN for " + c.home + ": ")
	clear(pin)
	return cl, err
}

// openWithPIN unlocks the vault with the PIN asked for with prompt and
// also returns the PIN, for commands that re-wrap the vault; the caller
// clears it and closes the client.
func (c *cli) openWithPIN(prompt string) (*client.Client, []byte, error) {
	pin, err := c.pin(prompt)
	if err != nil {
		return nil, nil, err
	}
	cl := &client.Client{Home: c.home}
	if err := cl.Unlock(c.ctx, pin); err != nil {
		clear(pin)
		return nil, nil, c.homeError(err)
	}
	c.warnPINOnly(cl)
	return cl, pin, nil
}

// warnPINOnly warns, at every unlock, that a registered vault without the
// relay's factor (registered with --no-server-factor) is protected by its
// PIN alone.
func (c *cli) warnPINOnly(cl *client.Client) {
	if _, err := cl.Address(); err != nil || cl.RelayFactor() {
		return
	}
	c.notef("warning: this vault is protected by its PIN alone: a copy of its files can be guessed offline; " +
		"\"parley passwd --server-factor\" lets the relay limit the guesses")
}

// homeError names the home directory in the SDK's errors about it.
func (c *cli) homeError(err error) error {
	var msg string
	switch {
	case errors.Is(err, client.ErrNoVault):
		msg = "no Parley vault in " + c.home
	case errors.Is(err, client.ErrExists):
		msg = c.home + " already holds a Parley vault"
	case errors.Is(err, client.ErrInUse):
		msg = "the vault in " + c.home + " is in use by another process"
	case errors.Is(err, client.ErrCorrupt):
		msg = "the vault in " + c.home + strings.TrimPrefix(cleanMessage(err), "the vault")
		return withHints(&renamedError{msg: msg, err: err},
			"restore "+c.home+" from a backup if you have one (the messages in it cannot be recovered otherwise)")
	default:
		return err
	}
	return &renamedError{msg: msg, err: err}
}

// renamedError replaces an error's message, keeping it for errors.Is.
type renamedError struct {
	msg string
	err error
}

func (e *renamedError) Error() string { return e.msg }
func (e *renamedError) Unwrap() error { return e.err }

// withClient parses a command's arguments, unlocks the vault, runs f and
// closes the vault.
func (c *cli) withClient(name string, args []string, nargs int, f func(cl *client.Client, args []string) error) error {
	return c.withClientRange(name, args, nargs, nargs, f)
}

// withClientRange is withClient for a command taking min to max
// arguments.
func (c *cli) withClientRange(name string, args []string, min, max int, f func(cl *client.Client, args []string) error) error {
	fs := c.flagSet(name)
	rest, err := c.parseRange(fs, args, min, max)
	if err != nil {
		return err
	}
	cl, err := c.open()
	if err != nil {
		return err
	}
	err = f(cl, rest)
	if cerr := cl.Close(); err == nil {
		err = cerr
	}
	return err
}

// self returns this device's user name, or ErrNotRegistered.
func self(cl *client.Client) (string, error) {
	a, err := cl.Address()
	return a.User, err
}
