package main

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"parley.dev/client"
)

// cmdTimer shows or sets the disappearing timer of a conversation:
// "parley timer USER [DURATION]". DURATION is Go's form (90m, 12h) or
// days (7d); 0 or off turns it off.
func cmdTimer(c *cli, args []string) error {
	return c.withClientRange("timer", args, 1, 2, func(cl *client.Client, args []string) error {
		peer := args[0]
		if len(args) == 1 {
			d, err := cl.Timer(c.ctx, peer)
			if err != nil {
				return err
			}
			return c.emitTimer(peer, d, "")
		}
		d, err := parseTimer(args[1])
		if err != nil {
			return err
		}
		err = cl.SetTimer(c.ctx, peer, d)
		status := "set"
		switch {
		case errors.Is(err, client.ErrQueued):
			status = "queued"
			c.noteQueued(err, "the change waits, encrypted, in the outbox")
		case err != nil:
			return err
		}
		return c.emitTimer(peer, d, status)
	})
}

// emitTimer prints a conversation's timer (status: "set", "queued", or ""
// when only shown).
func (c *cli) emitTimer(peer string, d time.Duration, status string) error {
	j := map[string]any{"user": peer, "timer_seconds": int64(d / time.Second)}
	text := "messages with " + peer + " disappear " + formatTimer(d) + " after they are sent"
	if d == 0 {
		text = "messages with " + peer + " do not disappear"
	}
	if status != "" {
		j["status"] = status
	}
	return c.emit(j, text)
}

// parseTimer reads a timer: "off", "0", days ("7d") or a Go duration.
func parseTimer(s string) (time.Duration, error) {
	if s == "off" {
		return 0, nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 {
			return 0, usageErrorf("timer %q: use a duration such as 30s, 12h, 7d, or off", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, usageErrorf("timer %q: use a duration such as 30s, 12h, 7d, or off", s)
	}
	return d, nil
}

// formatTimer writes a timer in days when it is whole days.
func formatTimer(d time.Duration) string {
	const day = 24 * time.Hour
	if d >= day && d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	return d.String()
}
