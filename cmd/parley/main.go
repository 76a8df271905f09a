// Command parley is the Parley command-line client: one device of one user,
// kept in an encrypted vault under a home directory and unlocked with a PIN.
//
//	parley demo                                  see it all work, in-process
//	parley init                                  create the vault
//	parley register --server URL [--ca FILE] USER
//	parley send USER TEXT                        encrypt and send (or queue)
//	parley send USER --file PATH [CAPTION]       send a file, with a progress bar
//	parley save MSGID PATH                       decrypt an attachment out
//	parley sync                                  fetch, print and acknowledge
//	parley listen                                stay online, print as it comes
//	parley chat USER                             talk in the terminal
//	parley history USER, parley contacts
//	parley group create NAME USER...             a group; also add, remove,
//	                                             leave, members, list
//	parley send --group NAME TEXT                to a group
//	parley safety USER, parley verify USER NUMBER, parley accept USER
//	parley passwd                                change the PIN
//	parley export [--out FILE]                   your data on this device, as JSON
//	parley delete-account USER                   erase the account and vault
//	parley bench --server URL [--mode raw|e2ee]  load-test a relay
//
// Run "parley help" for the flags and environment variables.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"syscall"
)

func main() {
	os.Exit(mainCode())
}

// mainCode runs the command line and returns the exit status.
func mainCode() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	return report(os.Stderr, err)
}

// Exit statuses.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// Environment variables; each flag's default comes from its twin.
const (
	envHome   = "PARLEY_HOME"
	envPIN    = "PARLEY_PIN"
	envNewPIN = "PARLEY_NEW_PIN"
	envJSON   = "PARLEY_JSON"
	envServer = "PARLEY_SERVER"
	envCA     = "PARLEY_CA"
	envToken  = "PARLEY_TOKEN"
	// envNoServerFactor and envServerFactor twin --no-server-factor and
	// --server-factor (register, passwd).
	envNoServerFactor = "PARLEY_NO_SERVER_FACTOR"
	envServerFactor   = "PARLEY_SERVER_FACTOR"
)

// defaultHomeDir is the home directory's name under the user's home.
const defaultHomeDir = ".parley"

// cli is one invocation: its streams, environment and global flags.
type cli struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string

	home string // --home
	json bool   // --json
}

// command is one subcommand.
type command struct {
	name    string
	args    string // synopsis of the arguments, for usage
	summary string
	run     func(c *cli, args []string) error
}

// commands lists the subcommands in the order usage shows them. It is set
// by init because the commands' help refers back to it.
var commands []command

func init() {
	commands = []command{
		{"demo", "[--group] [--keep]", "run a relay, alice and bob (--group: and carol, in a group) in-process and show it all work", cmdDemo},
		{"init", "", "create the vault (asks for a new PIN twice)", cmdInit},
		{"register", "--server URL [--ca FILE] [--token T] [--no-server-factor] USER", "create the identity and this device on a relay, which then limits PIN guesses", cmdRegister},
		{"send", "USER TEXT | USER --file PATH [CAPTION] | --group GROUP TEXT", "encrypt and send a message or a file (queued if the relay is unreachable)", cmdSend},
		{"save", "MSGID PATH", "decrypt a received (or sent) attachment to PATH", cmdSave},
		{"sync", "", "fetch pending messages, print them, acknowledge, exit", cmdSync},
		{"listen", "[--count N]", "stay online and print messages as they arrive", cmdListen},
		{"chat", "USER", "talk with USER: typed lines are sent, /quit exits", cmdChat},
		{"history", "USER | --group GROUP", "print the conversation with USER, or a group's", cmdHistory},
		{"group", "create|add|remove|leave|members|list|rename|promote|demote ...", "manage groups", cmdGroup},
		{"timer", "USER [DURATION]", "show or set the disappearing timer with USER (30s, 12h, 7d; off)", cmdTimer},
		{"contacts", "", "list contacts and whether they are verified", cmdContacts},
		{"safety", "USER", "print the safety number shared with USER", cmdSafety},
		{"verify", "USER NUMBER", "mark USER verified if NUMBER (60 digits, quoted or as 12 groups) matches", cmdVerify},
		{"accept", "USER", "accept USER's new identity after checking it", cmdAccept},
		{"passwd", "[--server-factor | --no-server-factor]", "change the PIN (and turn the relay's PIN guess limit on or off)", cmdPasswd},
		{"export", "[--out FILE]", "write your data on this device (contacts, conversations, groups) as JSON", cmdExport},
		{"delete-account", "USER", "erase your account at the relay (every device of it) and this vault; USER confirms", cmdDeleteAccount},
		{"bench", "--server URL [--ca FILE] [--mode raw|e2ee] [FLAGS]", "measure a relay under load: throughput, latency percentiles, errors, relay CPU and memory", cmdBench},
	}
}

// run is the whole command line; main only adds os.Exit.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	c := &cli{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv}
	fs := c.flagSet("parley")
	if err := fs.Parse(args); err != nil {
		return c.flagError(fs, err)
	}
	if fs.NArg() == 0 {
		fmt.Fprint(stderr, usage)
		return errSilentUsage
	}
	name, rest := fs.Arg(0), fs.Args()[1:]
	if name == "help" {
		return c.help(rest)
	}
	i := slices.IndexFunc(commands, func(cmd command) bool { return cmd.name == name })
	if i < 0 {
		return usageErrorf("unknown command %q", name)
	}
	return commands[i].run(c, rest)
}

// help prints the usage text, or one command's.
func (c *cli) help(args []string) error {
	if len(args) == 0 {
		fmt.Fprint(c.stdout, usage)
		return nil
	}
	i := slices.IndexFunc(commands, func(cmd command) bool { return cmd.name == args[0] })
	if i < 0 {
		return usageErrorf("unknown command %q", args[0])
	}
	fmt.Fprint(c.stdout, commandUsage(commands[i]))
	return nil
}

// flagSet returns a flag set that also accepts the global flags, so they
// may come before or after the command's name.
func (c *cli) flagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if c.home == "" {
		c.home = c.defaultHome()
	}
	if !c.json {
		c.json = isTrue(c.getenv(envJSON))
	}
	fs.StringVar(&c.home, "home", c.home, "")
	fs.BoolVar(&c.json, "json", c.json, "")
	return fs
}

// parse parses a command's flags and checks its argument count.
func (c *cli) parse(fs *flag.FlagSet, args []string, nargs int) ([]string, error) {
	return c.parseRange(fs, args, nargs, nargs)
}

// parseRange is parse for a command taking min to max arguments.
func (c *cli) parseRange(fs *flag.FlagSet, args []string, min, max int) ([]string, error) {
	if err := fs.Parse(args); err != nil {
		return nil, c.flagError(fs, err)
	}
	switch n := fs.NArg(); {
	case min == max && n != min:
		return nil, usageErrorf("%s takes %d argument(s), got %d", fs.Name(), min, n)
	case n < min || n > max:
		return nil, usageErrorf("%s takes %d to %d arguments, got %d", fs.Name(), min, max, n)
	}
	return fs.Args(), nil
}

// flagError turns a flag parsing error into a usage error, or prints the
// usage asked for with -h.
func (c *cli) flagError(fs *flag.FlagSet, err error) error {
	if !errors.Is(err, flag.ErrHelp) {
		return &usageError{err.Error()}
	}
	if fs.Name() == "parley" {
		fmt.Fprint(c.stdout, usage)
	} else {
		c.help([]string{fs.Name()})
	}
	return errHelped
}

func (c *cli) defaultHome() string {
	if h := c.getenv(envHome); h != "" {
		return h
	}
	if dir, err := os.UserHomeDir(); err == nil {
		return filepath.Join(dir, defaultHomeDir)
	}
	return defaultHomeDir
}

func isTrue(s string) bool {
	return s == "1" || s == "true" || s == "yes"
}

// errSilentUsage is a usage error whose text was already printed;
// errHelped ends a run that printed the help asked for.
var (
	errSilentUsage = errors.New("usage")
	errHelped      = errors.New("help printed")
)

// usageError is a mistake on the command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, a ...any) error {
	return &usageError{fmt.Sprintf(format, a...)}
}
