package main

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
	if err := cl.ExportFile(c.ctx, *out); err != nil {
		return err
	}
	c.notef("exported to %s: it holds your messages in the clear; keep it as carefully as the vault", *out)
	return nil
}
