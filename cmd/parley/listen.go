package main

import (
	"context"
	"errors"

	"parley.dev/client"
)

// cmdListen stays online and prints messages as they arrive, until
// interrupted (or, with --count N, after N messages): "parley listen".
func cmdListen(c *cli, args []string) error {
	fs := c.flagSet("listen")
	count := fs.Int("count", 0, "")
	if _, err := c.parse(fs, args, 0); err != nil {
		return err
	}
	cl, err := c.open()
	if err != nil {
		return err
	}
	defer cl.Close()
	me, err := self(cl)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	seen := 0
	var printErr error
	err = cl.Listen(ctx, func(ev client.Event) {
		if ev.Kind == client.EventSynced {
			c.notef("listening as %s: up to date, waiting for messages (Ctrl-C stops)", me)
		}
		if printErr = c.printEvent(me, ev); printErr != nil {
			cancel()
		}
		if ev.Kind == client.EventMessage {
			if seen++; *count > 0 && seen >= *count {
				cancel()
			}
		}
	})
	if printErr != nil {
		return printErr
	}
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
