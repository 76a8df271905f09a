package main

import (
	"fmt"
	"strings"
)

const usage = `Usage:
    parley [--home DIR] [--json] COMMAND [ARGS]

Start here:
    parley demo [--keep]             run a relay, alice and bob in-process
                                     (--keep: leave their files behind)
    parley demo --group              the same with alice, bob and carol in a
                                     group, and carol removed

Commands:
    init                             create the vault (asks for a new PIN twice)
    register --server URL [--ca FILE] [--token T] [--no-server-factor] USER
                                     create the identity and this device on a relay;
                                     the relay then limits PIN guesses for this vault
                                     (--no-server-factor: the PIN alone protects it)
    send USER TEXT                   encrypt and send (queued if the relay is unreachable
                                     or refuses it for now; the next sync sends it)
    send USER --file PATH [CAPTION]  encrypt and send a file, resumable, with a progress
                                     bar on a terminal (none with --json)
    save MSGID PATH                  decrypt an attachment (downloading it if needed) to PATH
    send --group GROUP TEXT          send to a group: encrypted once, for every member's devices
    sync                             fetch pending messages, print them, exit
    listen [--count N]               stay online and print messages as they arrive
                                     (--count: exit after N messages)
    chat USER                        talk with USER: typed lines are sent, /quit exits
    history USER                     print the conversation with USER
    history --group GROUP            print a group's messages and changes
    group create NAME USER...        create a group with you as admin
    group add|remove GROUP USER...   add or remove members (admins only)
    group leave GROUP                leave a group, on all your devices
    group members GROUP              list its members (* marks admins)
    group list                       list your groups
    group rename GROUP NAME          rename it (admins only)
    group promote|demote GROUP USER...
                                     make members admins, or admins members
    timer USER [DURATION]            show or set the disappearing timer with USER: messages
                                     sent after it are deleted on every device DURATION
                                     after they were sent (30s, 12h, 7d; off)
    contacts                         list contacts and whether they are verified
    safety USER                      print the safety number shared with USER
    verify USER NUMBER               mark USER verified if NUMBER matches theirs
                                     (quoted, or typed as shown: 12 groups of 5)
    accept USER                      accept USER's new identity after checking it
    passwd [--server-factor | --no-server-factor]
                                     change the PIN (and turn the relay's limit on or off)
    export [--out FILE]              write your data on this device (contacts, conversations,
                                     groups, attachments' descriptions) as JSON; FILE is new, 0600
    delete-account USER              erase your account at the relay (all its devices,
                                     messages waiting, attachments) and this vault;
                                     USER, your own, confirms
    bench --server URL [--ca FILE] [--mode raw|e2ee] [--senders N] [--rate R]
          [--payload BYTES] [--duration D] [--idle N] [--metrics URL]
                                     load-test a relay: throughput, latency
                                     percentiles, errors, relay CPU and memory
    help [COMMAND]                   print this text, or one command's

Global flags (before or after COMMAND, before its arguments):
    --home DIR     the vault's directory (default ~/.parley)           PARLEY_HOME
    --json         print JSON lines instead of text                    PARLEY_JSON=1
    --server URL   the relay, https only (register); URL,URL,... for  PARLEY_SERVER
                   the nodes of one deployment, tried in order
    --ca FILE      trust this CA certificate for the relay (register)  PARLEY_CA
    --token T      a registration token from your app's backend        PARLEY_TOKEN
    --no-server-factor   PIN only, no relay limit (register, passwd)   PARLEY_NO_SERVER_FACTOR=1
    --server-factor      turn the relay's limit on (passwd)            PARLEY_SERVER_FACTOR=1

The PIN is read from the terminal without echo. Scripts may set PARLEY_PIN
instead; that is less safe: other programs of yours can read a process's
environment, and shells keep history. A new PIN needs at least 6 digits
(not a repeat, a run or a common PIN) or a passphrase of 8 characters.

After "register", unlocking the vault needs the relay: it counts wrong PINs
and destroys the vault's key after too many in a row (10, unless its
operator chose otherwise), so a copy of the vault's files cannot be guessed
at offline.

GROUP is a group's name, or its ID when several share the name (parley group
list shows both). Messages print as "[time] sender: text", group messages as
"[time] sender in GROUP: text". Errors go to standard error as
"parley: error: ..." followed by hints on what to do next.
`

// commandDetails are the longer help texts of the commands that have one.
var commandDetails = map[string]string{"bench": benchUsage}

// commandUsage is the short usage text of one command.
func commandUsage(cmd command) string {
	var b strings.Builder
	synopsis := strings.TrimSpace("parley " + cmd.name + " " + cmd.args)
	summary := strings.ToUpper(cmd.summary[:1]) + cmd.summary[1:]
	fmt.Fprintf(&b, "Usage:\n    %s\n\n%s.\n", synopsis, summary)
	if more := commandDetails[cmd.name]; more != "" {
		fmt.Fprintf(&b, "\n%s", more)
	}
	fmt.Fprintf(&b, "\nRun \"parley help\" for the global flags and environment variables.\n")
	return b.String()
}
