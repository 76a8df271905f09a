package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"parley.dev/client"
)

// groupCommand is one subcommand of "parley group".
type groupCommand struct {
	name, args, summary string
	nargs               int // fixed count; -1: at least one more than the GROUP
	run                 func(c *cli, cl *client.Client, args []string) error
}

// groupCommands are the subcommands of "parley group".
var groupCommands = []groupCommand{
	{"create", "NAME USER...", "create a group with you as admin and USERs as members", -1, groupCreate},
	{"add", "GROUP USER...", "add USERs (you must be an admin)", -1, groupAdd},
	{"remove", "GROUP USER...", "remove USERs (you must be an admin); they read nothing sent afterwards", -1, groupRemove},
	{"leave", "GROUP", "leave the group, on all your devices", 1, groupLeave},
	{"members", "GROUP", "list the members (* marks admins)", 1, groupMembers},
	{"list", "", "list the groups this device knows", 0, groupList},
	{"rename", "GROUP NAME", "rename the group (you must be an admin)", 2, groupRename},
	{"promote", "GROUP USER...", "make members admins", -1, groupPromote},
	{"demote", "GROUP USER...", "make admins plain members", -1, groupDemote},
}

// cmdGroup runs "parley group SUBCOMMAND ...". GROUP is a group's name, or
// its ID (32 hex digits) when several groups share the name.
func cmdGroup(c *cli, args []string) error {
	fs := c.flagSet("group")
	if err := fs.Parse(args); err != nil {
		return c.flagError(fs, err)
	}
	if fs.NArg() == 0 {
		return usageErrorf("group needs a subcommand: %s", groupSubcommands())
	}
	name, rest := fs.Arg(0), fs.Args()[1:]
	i := slices.IndexFunc(groupCommands, func(g groupCommand) bool { return g.name == name })
	if i < 0 {
		return usageErrorf("unknown group subcommand %q (one of %s)", name, groupSubcommands())
	}
	g := groupCommands[i]
	switch {
	case g.nargs >= 0 && len(rest) != g.nargs:
		return usageErrorf("usage: parley group %s %s", g.name, g.args)
	case g.nargs < 0 && len(rest) < 2:
		return usageErrorf("usage: parley group %s %s", g.name, g.args)
	}
	cl, err := c.open()
	if err != nil {
		return err
	}
	err = g.run(c, cl, rest)
	if cerr := cl.Close(); err == nil {
		err = cerr
	}
	return err
}

func groupSubcommands() string {
	var names []string
	for _, g := range groupCommands {
		names = append(names, g.name)
	}
	return strings.Join(names, ", ")
}

// findGroup resolves a group's name or ID.
func (c *cli) findGroup(cl *client.Client, name string) (client.Group, error) {
	if id, err := client.ParseGroupID(name); err == nil {
		return cl.Group(c.ctx, id)
	}
	gs, err := cl.Groups(c.ctx)
	if err != nil {
		return client.Group{}, err
	}
	var found []client.Group
	for _, g := range gs {
		if g.Name == name {
			found = append(found, g)
		}
	}
	switch len(found) {
	case 0:
		return client.Group{}, withHints(fmt.Errorf("no group %q on this device", name),
			"list the groups this device knows: parley group list")
	case 1:
		return found[0], nil
	}
	return client.Group{}, withHints(fmt.Errorf("%d groups are named %q", len(found), name),
		"name the group by its ID instead: parley group list")
}

func groupCreate(c *cli, cl *client.Client, args []string) error {
	id, err := cl.CreateGroup(c.ctx, args[0], args[1:])
	if err != nil && (id == client.GroupID{}) {
		return err
	}
	if err := c.queued(err); err != nil {
		return err
	}
	return c.emit(map[string]string{"type": "group", "id": id.String(), "name": args[0]},
		fmt.Sprintf("created group %s (%s)", args[0], id))
}

// queued turns ErrUnreachable after a change or message was stored into
// a note: it waits in the encrypted outbox.
func (c *cli) queued(err error) error {
	if errors.Is(err, client.ErrUnreachable) {
		c.notef("the relay is unreachable: it waits, encrypted, in the outbox")
		c.notef("hint: run \"parley sync\" later to send it")
		return nil
	}
	return err
}

// groupChange runs one change on the group args[0] and says what it did.
func (c *cli) groupChange(cl *client.Client, args []string, what string, f func(client.GroupID, []string) error) error {
	g, err := c.findGroup(cl, args[0])
	if err != nil {
		return err
	}
	if err := c.queued(f(g.ID, args[1:])); err != nil {
		return err
	}
	line := strings.TrimSpace(what + " " + strings.Join(args[1:], ", "))
	return c.emit(map[string]any{"type": "group-change", "group": g.ID.String(), "change": what, "users": args[1:]},
		fmt.Sprintf("%s (%s)", line, g.Name))
}

func groupAdd(c *cli, cl *client.Client, args []string) error {
	return c.groupChange(cl, args, "added", func(id client.GroupID, us []string) error { return cl.AddMembers(c.ctx, id, us) })
}

func groupRemove(c *cli, cl *client.Client, args []string) error {
	return c.groupChange(cl, args, "removed", func(id client.GroupID, us []string) error { return cl.RemoveMembers(c.ctx, id, us) })
}

func groupLeave(c *cli, cl *client.Client, args []string) error {
	return c.groupChange(cl, args, "left", func(id client.GroupID, _ []string) error { return cl.LeaveGroup(c.ctx, id) })
}

func groupPromote(c *cli, cl *client.Client, args []string) error {
	return c.groupChange(cl, args, "promoted", func(id client.GroupID, us []string) error { return cl.SetAdmins(c.ctx, id, us, true) })
}

func groupDemote(c *cli, cl *client.Client, args []string) error {
	return c.groupChange(cl, args, "demoted", func(id client.GroupID, us []string) error { return cl.SetAdmins(c.ctx, id, us, false) })
}

func groupRename(c *cli, cl *client.Client, args []string) error {
	return c.groupChange(cl, args[:1], "renamed to "+args[1], func(id client.GroupID, _ []string) error {
		return cl.RenameGroup(c.ctx, id, args[1])
	})
}

func groupMembers(c *cli, cl *client.Client, args []string) error {
	g, err := c.findGroup(cl, args[0])
	if err != nil {
		return err
	}
	if !g.Joined {
		c.notef("note: you are no longer a member of %s; this is its last state you know", g.Name)
	}
	for _, m := range g.Members {
		line := m.User
		if m.Admin {
			line += " *"
		}
		if err := c.emit(map[string]any{"type": "member", "group": g.ID.String(), "user": m.User, "admin": m.Admin}, line); err != nil {
			return err
		}
	}
	return nil
}

func groupList(c *cli, cl *client.Client, _ []string) error {
	gs, err := cl.Groups(c.ctx)
	if err != nil {
		return err
	}
	if len(gs) == 0 {
		c.notef("no groups yet; create one: parley group create NAME USER...")
	}
	for _, g := range gs {
		line := fmt.Sprintf("%s\t%s\t%d members", g.Name, g.ID, len(g.Members))
		if !g.Joined {
			line += "\t(left)"
		}
		err := c.emit(map[string]any{"type": "group", "id": g.ID.String(), "name": g.Name,
			"members": len(g.Members), "joined": g.Joined, "admin": g.Admin}, line)
		if err != nil {
			return err
		}
	}
	return nil
}

// hasGroupFlag reports whether a send or history names a group.
func hasGroupFlag(args []string) bool {
	for _, a := range args {
		switch {
		case a == "--":
			return false
		case a == "--group" || a == "-group" || strings.HasPrefix(a, "--group=") || strings.HasPrefix(a, "-group="):
			return true
		}
	}
	return false
}

// withGroupFlag parses "--group GROUP" and nargs arguments, unlocks the
// vault, resolves the group and runs f.
func (c *cli) withGroupFlag(name string, args []string, nargs int, f func(cl *client.Client, g client.Group, rest []string) error) error {
	fs := c.flagSet(name)
	group := fs.String("group", "", "")
	rest, err := c.parse(fs, args, nargs)
	if err != nil {
		return err
	}
	cl, err := c.open()
	if err != nil {
		return err
	}
	defer cl.Close()
	g, err := c.findGroup(cl, *group)
	if err != nil {
		return err
	}
	return f(cl, g, rest)
}

// cmdSendGroup is "parley send --group GROUP TEXT".
func cmdSendGroup(c *cli, args []string) error {
	return c.withGroupFlag("send", args, 1, func(cl *client.Client, g client.Group, rest []string) error {
		id, err := cl.SendGroup(c.ctx, g.ID, rest[0])
		status := "sent"
		if errors.Is(err, client.ErrUnreachable) {
			status = "queued"
		}
		if err := c.queued(err); err != nil {
			if errors.Is(err, client.ErrNotGroupMember) {
				return withHints(fmt.Errorf("you are not a member of %s", g.Name), "ask one of its admins to add you again")
			}
			return err
		}
		return c.emit(map[string]string{"id": id.String(), "group": g.ID.String(), "status": status}, status+" to "+g.Name)
	})
}

// cmdHistoryGroup is "parley history --group GROUP": its messages and
// changes, oldest first.
func cmdHistoryGroup(c *cli, args []string) error {
	return c.withGroupFlag("history", args, 0, func(cl *client.Client, g client.Group, _ []string) error {
		me, err := self(cl)
		if err != nil {
			return err
		}
		entries, err := cl.GroupHistory(c.ctx, g.ID)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if e.Message != nil {
				err = c.printMessage(me, e.Message)
			} else {
				err = c.printChange(e.Change)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// describeChange says what a change did, as a sentence.
func describeChange(ch *client.GroupChange) string {
	users := strings.Join(ch.Users, ", ")
	switch ch.Kind {
	case "create":
		others := slices.DeleteFunc(slices.Clone(ch.Users), func(u string) bool { return u == ch.By })
		return fmt.Sprintf("%s created %s with %s", ch.By, ch.Name, strings.Join(others, ", "))
	case "add":
		return fmt.Sprintf("%s added %s", ch.By, users)
	case "remove":
		return fmt.Sprintf("%s removed %s", ch.By, users)
	case "leave":
		return ch.By + " left"
	case "promote":
		return fmt.Sprintf("%s made %s admin", ch.By, users)
	case "demote":
		return fmt.Sprintf("%s made %s a plain member", ch.By, users)
	case "rename":
		return fmt.Sprintf("%s renamed the group %s", ch.By, ch.Name)
	}
	return ch.By + " changed the group"
}

// printChange prints a change of a group's history.
func (c *cli) printChange(ch *client.GroupChange) error {
	line := fmt.Sprintf("[%s] -- %s", ch.Time.Local().Format(timeLayout), describeChange(ch))
	return c.emit(map[string]any{"type": "group-change", "group": ch.Group.String(), "kind": ch.Kind,
		"by": ch.By, "users": ch.Users, "name": ch.Name, "time": ch.Time}, line)
}

// printGroupEvent notes a change that Sync or Listen reports.
func (c *cli) printGroupEvent(self string, ev client.Event) error {
	ch := ev.Group
	if ev.Kind == client.EventGroupRefused {
		what := "a change"
		if ch != nil {
			what = fmt.Sprintf("a change to %s (%s)", ch.Name, describeChange(ch))
		}
		c.notef("warning: refused %s: %s", what, cleanMessage(ev.Err))
		c.notef("hint: the group stays as it was; if this repeats, tell its admins")
		return nil
	}
	if ch.Kind == "create" || ch.Kind == "add" && slices.Contains(ch.Users, self) {
		c.notef("you are in group %s (%s): send with parley send --group %q TEXT", ch.Name, ch.Group, ch.Name)
	}
	return c.printChange(ch)
}
