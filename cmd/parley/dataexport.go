package main

import (
	"errors"
	"os"

	"parley.dev/client"
)

// cmdExport writes the user's data this device holds (contacts,
// conversations, groups) as JSON: "parley export [--out FILE]". FILE is
// created with mode 0600 and never overwritten; without it the JSON goes
// to standard output.
func cmdExport(c *cli, args []string) error {
	fs := c.flagSet("export")
	out := fs.String("out", "", "")
	if _, err := c.parse(fs, args, 0); err != nil {
		return err
	}
	cl, err := c.open()
	if err != nil {
		return err
	}
	defer cl.Close()
	if *out == "" {
		return cl.Export(c.ctx, c.stdout)
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := writeExport(c, cl, f); err != nil {
		os.Remove(*out)
		return err
	}
	c.notef("exported to %s: it holds your messages in the clear; keep it as carefully as the vault", *out)
	return nil
}

func writeExport(c *cli, cl *client.Client, f *os.File) error {
	err := cl.Export(c.ctx, f)
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}
