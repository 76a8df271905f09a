package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"parley.dev/server"
)

// adminUsage is "parleyd admin --help".
const adminUsage = `Usage: parleyd admin [connection] [--json] COMMAND

The admin console of a running relay (docs/operations.md, "Admin console").

Connection (one of; the default is the socket DATA/admin.sock):
  --socket PATH           the relay's --admin-listen socket
  --data DIR              the relay's --data directory (default "parleyd-data")
  --url https://127.0.0.1:PORT --cert FILE --key FILE --ca FILE
                          a relay's --admin-listen tcp://: a client certificate
                          its --admin-client-ca verifies, and the CA of its own
Output: a table, or with --json (before or after COMMAND) the console's JSON.

Commands:
  users [--after USER] [--limit N]      users, their creation, suspension, devices
  devices USER                          a user's devices: created, last seen, queue
  revoke USER DEVICE                    revoke a device; its live connection closes
  suspend USER                          refuse the user's devices until resumed
  resume USER                           lift a suspension
  delete USER --yes                     erase the user (account, devices, prekeys,
                                        mailboxes, blobs); only the audit entry stays
  token [--ttl D] USER                  mint a registration token (default 1h, at most
                                        720h; the relay needs --admin-token-key)
  policy publish FILE                   serve a signed policy (parleyd policy sign)
  audit show [--after N] [--limit N]    audit log entries with sequence above N
  audit verify                          check the audit log's hash chain
`

// runAdmin is "parleyd admin".
func runAdmin(ctx context.Context, args []string, stdout io.Writer) error {
	a, rest, err := adminConnect(args)
	if errors.Is(err, flag.ErrHelp) || (err == nil && len(rest) > 0 && rest[0] == "help") {
		io.WriteString(stdout, adminUsage)
		return flag.ErrHelp
	}
	if err != nil {
		return usageError{err}
	}
	if len(rest) == 0 {
		return usagef("admin: no command (run \"parleyd admin --help\")")
	}
	cmd, ok := adminCommands[rest[0]]
	if !ok {
		return usagef("admin: unknown command %q (run \"parleyd admin --help\")", rest[0])
	}
	return cmd(ctx, a, rest[1:], stdout)
}

type adminCommand func(ctx context.Context, a *adminConn, args []string, w io.Writer) error

var adminCommands map[string]adminCommand

func init() {
	adminCommands = map[string]adminCommand{
		"users": adminUsers, "devices": adminDevices, "revoke": adminRevoke,
		"suspend": adminUserCmd("suspend", server.AdminPathSuspend),
		"resume":  adminUserCmd("resume", server.AdminPathResume),
		"delete":  adminDelete, "token": adminToken, "policy": adminPolicy, "audit": adminAudit,
	}
}

// args parses a command's flags (and --json, which may come after
// the command too) and wants exactly n arguments.
func (a *adminConn) args(fs *flag.FlagSet, args []string, n int, use string) ([]string, error) {
	fs.BoolVar(&a.json, "json", a.json, "")
	rest, err := interspersed(fs, args)
	if err != nil {
		return nil, usagef("admin %s: %v", use, err)
	}
	if len(rest) != n {
		return nil, usagef("usage: parleyd admin %s", use)
	}
	return rest, nil
}

func adminUsers(ctx context.Context, a *adminConn, args []string, w io.Writer) error {
	fs := flag.NewFlagSet("users", flag.ContinueOnError)
	after := fs.String("after", "", "")
	limit := fs.Int("limit", 100, "")
	if _, err := a.args(fs, args, 0, "users [--after USER] [--limit N]"); err != nil {
		return err
	}
	q := url.Values{"after": {*after}, "limit": {strconv.Itoa(*limit)}}
	var users []struct {
		ID        string    `json:"id"`
		Created   time.Time `json:"created"`
		Suspended bool      `json:"suspended"`
		Devices   int       `json:"devices"`
	}
	return a.show(ctx, "GET", server.AdminPathUsers+"?"+q.Encode(), nil, &users, w, func(t *tabwriter.Writer) {
		fmt.Fprintln(t, "USER\tCREATED\tSUSPENDED\tDEVICES")
		for _, u := range users {
			fmt.Fprintf(t, "%s\t%s\t%v\t%d\n", u.ID, stamp(u.Created), u.Suspended, u.Devices)
		}
	})
}

func adminDevices(ctx context.Context, a *adminConn, args []string, w io.Writer) error {
	rest, err := a.args(flag.NewFlagSet("devices", flag.ContinueOnError), args, 1, "devices USER")
	if err != nil {
		return err
	}
	var devs []server.DeviceSummary
	return a.show(ctx, "GET", server.AdminPathUsers+"/"+url.PathEscape(rest[0])+"/devices", nil, &devs, w, func(t *tabwriter.Writer) {
		fmt.Fprintln(t, "DEVICE\tCREATED\tLAST SEEN\tQUEUE")
		for _, d := range devs {
			fmt.Fprintf(t, "%d\t%s\t%s\t%d\n", d.Device, stamp(d.Created), stamp(d.LastSeen), d.Queue)
		}
	})
}

func adminRevoke(ctx context.Context, a *adminConn, args []string, w io.Writer) error {
	rest, err := a.args(flag.NewFlagSet("revoke", flag.ContinueOnError), args, 2, "revoke USER DEVICE")
	if err != nil {
		return err
	}
	dev, err := strconv.ParseUint(rest[1], 10, 32)
	if err != nil {
		return usagef("admin revoke: device %q: want a number (see \"parleyd admin devices %s\")", rest[1], rest[0])
	}
	body := server.AdminRequest{User: rest[0], Device: uint32(dev)}
	return a.done(ctx, server.AdminPathRevoke, body, w, fmt.Sprintf("revoked device %d of %s", dev, rest[0]))
}

// adminUserCmd is suspend and resume: one user.
func adminUserCmd(name, path string) adminCommand {
	return func(ctx context.Context, a *adminConn, args []string, w io.Writer) error {
		rest, err := a.args(flag.NewFlagSet(name, flag.ContinueOnError), args, 1, name+" USER")
		if err != nil {
			return err
		}
		return a.done(ctx, path, server.AdminRequest{User: rest[0]}, w, name+"d "+rest[0])
	}
}

func adminDelete(ctx context.Context, a *adminConn, args []string, w io.Writer) error {
	fs := flag.NewFlagSet("delete", flag.ContinueOnError)
	yes := fs.Bool("yes", false, "")
	rest, err := a.args(fs, args, 1, "delete USER --yes")
	if err != nil {
		return err
	}
	if !*yes {
		return usagef("admin delete erases %s for good: add --yes", rest[0])
	}
	return a.done(ctx, server.AdminPathDelete, server.AdminRequest{User: rest[0]}, w, "deleted "+rest[0])
}

func adminToken(ctx context.Context, a *adminConn, args []string, w io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	ttl := fs.Duration("ttl", defaultTokenTTL, "")
	rest, err := a.args(fs, args, 1, "token [--ttl D] USER")
	if err != nil {
		return err
	}
	var out struct{ Token string }
	return a.show(ctx, "POST", server.AdminPathToken, server.AdminRequest{User: rest[0], TTL: ttl.String()}, &out, w,
		func(t *tabwriter.Writer) { fmt.Fprintln(t, out.Token) })
}

func adminPolicy(ctx context.Context, a *adminConn, args []string, w io.Writer) error {
	rest, err := a.args(flag.NewFlagSet("policy", flag.ContinueOnError), args, 2, "policy publish FILE")
	if err != nil {
		return err
	}
	if rest[0] != "publish" {
		return usagef("usage: parleyd admin policy publish FILE")
	}
	doc, err := os.ReadFile(rest[1])
	if err != nil {
		return err
	}
	var out struct{ Version uint64 }
	return a.show(ctx, "POST", server.AdminPathPolicy, doc, &out, w,
		func(t *tabwriter.Writer) { fmt.Fprintf(t, "published policy version %d\n", out.Version) })
}

func adminAudit(ctx context.Context, a *adminConn, args []string, w io.Writer) error {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	after := fs.Int64("after", 0, "")
	limit := fs.Int("limit", 100, "")
	const use = "audit show [--after N] [--limit N] | audit verify"
	rest, err := a.args(fs, args, 1, use)
	if err != nil {
		return err
	}
	switch rest[0] {
	case "verify":
		var out struct{ Verified int64 }
		return a.show(ctx, "GET", server.AdminPathAuditVerify, nil, &out, w,
			func(t *tabwriter.Writer) { fmt.Fprintf(t, "audit log verified: %d entries\n", out.Verified) })
	case "show":
		q := url.Values{"after": {strconv.FormatInt(*after, 10)}, "limit": {strconv.Itoa(*limit)}}
		var es []server.AuditEntry
		return a.show(ctx, "GET", server.AdminPathAudit+"?"+q.Encode(), nil, &es, w, func(t *tabwriter.Writer) {
			fmt.Fprintln(t, "SEQ\tTIME\tKIND\tACTOR\tSUBJECT\tDETAIL")
			for _, e := range es {
				fmt.Fprintf(t, "%d\t%s\t%s\t%s\t%s\t%s\n", e.Seq, stamp(e.Time), e.Kind, e.Actor, e.Subject, e.Detail)
			}
		})
	}
	return usagef("usage: parleyd admin %s", use)
}

// show makes a request and prints its answer: the JSON with --json, else
// table's rendering of it decoded into v.
func (a *adminConn) show(ctx context.Context, method, path string, body, v any, w io.Writer, table func(*tabwriter.Writer)) error {
	out, err := a.call(ctx, method, path, body)
	if err != nil {
		return err
	}
	if a.json {
		_, err = w.Write(out)
		return err
	}
	if err := json.Unmarshal(out, v); err != nil {
		return fmt.Errorf("admin: bad answer: %w", err)
	}
	t := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	table(t)
	return t.Flush()
}

// done makes a POST whose answer is a confirmation.
func (a *adminConn) done(ctx context.Context, path string, body any, w io.Writer, msg string) error {
	return a.show(ctx, "POST", path, body, new(any), w, func(t *tabwriter.Writer) { fmt.Fprintln(t, msg) })
}

// stamp formats a time for a table; the zero time is "never".
func stamp(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}
