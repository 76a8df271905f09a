package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"parley.dev/internal/addr"
	"parley.dev/server"
)

const adminUsage = `Usage: parleyd admin [CONNECTION] [--json] COMMAND [ARGS]

The admin console of a running relay, over its --admin-listen (by default
the unix socket DATA/admin.sock, which only the relay's user may open).
It acts on accounts and devices; no command reads message content.

Commands:
  users [--after USER] [--limit N]    list accounts: created, suspended, devices
  devices USER                        a user's devices: created, last seen,
                                      envelopes queued
  revoke USER DEVICE                  revoke a device: its keys and mailbox go,
                                      its live connection closes on any node
  suspend USER                        refuse the account's devices (their live
                                      connections close) until resume
  resume USER                         lift a suspension
  delete USER --yes                   erase the account: devices, prekeys,
                                      mailboxes, push tokens, PIN-factor records,
                                      blobs; only the audit entry stays
  token --key FILE [--ttl D] USER     mint a registration token for USER with the
                                      token key (kept off the relay) and record
                                      the mint in the audit log
  policy publish FILE                 have the relay serve a signed policy
                                      (parleyd policy sign) from now on
  audit show [--after N] [--limit N]  audit log entries after entry N
  audit verify                        check the audit log's hash chain

Connection (default: --socket DATA/admin.sock):
  --data DIR        the relay's data directory (default parleyd-data)
  --socket PATH     the admin socket, if not DATA/admin.sock
  --url https://127.0.0.1:PORT --client-cert FILE --client-key FILE --ca FILE
                    a TCP admin listener (--admin-listen tcp://...), with this
                    client certificate, trusting --ca for the relay's
Output: a table, or JSON with --json. Every flag has a PARLEY_* twin.
`

// adminCommand is one `parleyd admin` command.
type adminCommand struct {
	usage string
	nargs int
	flags func(*flag.FlagSet) any // the command's own flags
	run   func(ctx context.Context, c *adminConn, args []string, flags any) error
}

func noFlags(*flag.FlagSet) any { return nil }

var adminCommands = map[string]adminCommand{
	"users":          {"[--after USER] [--limit N]", 0, pageFlags, adminListUsers},
	"devices":        {"USER", 1, noFlags, adminListDevices},
	"revoke":         {"USER DEVICE", 2, noFlags, adminRevokeDevice},
	"suspend":        {"USER", 1, noFlags, adminAction("suspend")},
	"resume":         {"USER", 1, noFlags, adminAction("resume")},
	"delete":         {"USER --yes", 1, yesFlag, adminDeleteUser},
	"token":          {"--key FILE [--ttl D] USER", 1, tokenFlags, adminMintToken},
	"policy publish": {"FILE", 1, noFlags, adminPublishPolicy},
	"audit show":     {"[--after N] [--limit N]", 0, auditPageFlags, adminAuditShow},
	"audit verify":   {"", 0, noFlags, adminAuditVerify},
}

type page struct {
	after *string
	limit *int
}

func pageFlags(fs *flag.FlagSet) any {
	return page{fs.String("after", "", ""), fs.Int("limit", 100, "")}
}

func auditPageFlags(fs *flag.FlagSet) any {
	return page{fs.String("after", "0", ""), fs.Int("limit", 100, "")}
}

func yesFlag(fs *flag.FlagSet) any { return fs.Bool("yes", false, "") }

type tokenOpts struct {
	key *string
	ttl *time.Duration
}

func tokenFlags(fs *flag.FlagSet) any {
	return tokenOpts{fs.String("key", "", ""), fs.Duration("ttl", defaultTokenTTL, "")}
}

func table(c *adminConn, v any, header string, rows [][]string) error {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
	return c.show(v, b.String())
}

func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

func adminListUsers(ctx context.Context, c *adminConn, _ []string, f any) error {
	p := f.(page)
	q := url.Values{"after": {*p.after}, "limit": {strconv.Itoa(*p.limit)}}
	var users []server.AdminUser
	if err := c.call(ctx, "GET", "/admin/v1/users?"+q.Encode(), "", nil, &users); err != nil {
		return err
	}
	var rows [][]string
	for _, u := range users {
		rows = append(rows, []string{u.User, when(u.Created), strconv.FormatBool(u.Suspended), strconv.Itoa(u.Devices)})
	}
	return table(c, users, "USER\tCREATED\tSUSPENDED\tDEVICES", rows)
}

func adminListDevices(ctx context.Context, c *adminConn, args []string, _ any) error {
	var devs []server.AdminDevice
	if err := c.call(ctx, "GET", "/admin/v1/users/"+url.PathEscape(args[0])+"/devices", "", nil, &devs); err != nil {
		return err
	}
	var rows [][]string
	for _, d := range devs {
		rows = append(rows, []string{strconv.FormatUint(uint64(d.Device), 10), when(d.Created), when(d.LastSeen), strconv.Itoa(d.Queued)})
	}
	return table(c, devs, "DEVICE\tCREATED\tLAST SEEN\tQUEUED", rows)
}

func adminRevokeDevice(ctx context.Context, c *adminConn, args []string, _ any) error {
	if _, err := strconv.ParseUint(args[1], 10, 32); err != nil {
		return usagef("admin revoke: device %q is not a number", args[1])
	}
	path := "/admin/v1/users/" + url.PathEscape(args[0]) + "/devices/" + args[1] + "/revoke"
	return adminDone(ctx, c, "POST", path, "revoked "+args[0]+"/"+args[1])
}

func adminAction(verb string) func(context.Context, *adminConn, []string, any) error {
	return func(ctx context.Context, c *adminConn, args []string, _ any) error {
		return adminDone(ctx, c, "POST", "/admin/v1/users/"+url.PathEscape(args[0])+"/"+verb, verb+"d "+args[0])
	}
}

func adminDeleteUser(ctx context.Context, c *adminConn, args []string, f any) error {
	if !*f.(*bool) {
		return usagef("admin delete erases %s for good: add --yes", args[0])
	}
	return adminDone(ctx, c, "DELETE", "/admin/v1/users/"+url.PathEscape(args[0]), "deleted "+args[0])
}

// adminDone makes a request whose answer is {"ok": true}.
func adminDone(ctx context.Context, c *adminConn, method, path, text string) error {
	var res map[string]bool
	if err := c.call(ctx, method, path, "", nil, &res); err != nil {
		return err
	}
	return c.show(res, "parleyd: "+text+"\n")
}

func adminMintToken(ctx context.Context, c *adminConn, args []string, f any) error {
	o := f.(tokenOpts)
	user, err := addr.ParseUserID(args[0])
	if err != nil || *o.key == "" || *o.ttl <= 0 {
		return usagef("usage: parleyd admin token --key FILE [--ttl D] USER (a valid user, a positive ttl)")
	}
	key, err := readPrivateKey(*o.key)
	if err != nil {
		return err
	}
	expires := time.Now().Add(*o.ttl)
	tok, err := server.NewRegistrationToken(key, user, expires)
	if err != nil {
		return err
	}
	body := fmt.Appendf(nil, `{"user":%q,"expires":%q}`, string(user), expires.UTC().Format(time.RFC3339Nano))
	var res map[string]bool
	if err := c.call(ctx, "POST", "/admin/v1/tokens", "application/json", body, &res); err != nil {
		return fmt.Errorf("the token was not recorded in the audit log, so it is not given out: %w", err)
	}
	return c.show(map[string]any{"user": user, "expires": expires.UTC(), "token": tok}, tok+"\n")
}

func adminPublishPolicy(ctx context.Context, c *adminConn, args []string, _ any) error {
	doc, err := os.ReadFile(args[0])
	if err != nil {
		return err
	}
	var res struct{ Version uint64 }
	if err := c.call(ctx, "POST", "/admin/v1/policy", "application/octet-stream", doc, &res); err != nil {
		return err
	}
	return c.show(res, fmt.Sprintf("parleyd: policy version %d published\n", res.Version))
}

func adminAuditShow(ctx context.Context, c *adminConn, _ []string, f any) error {
	p := f.(page)
	q := url.Values{"after": {*p.after}, "limit": {strconv.Itoa(*p.limit)}}
	var es []server.AuditEntry
	if err := c.call(ctx, "GET", "/admin/v1/audit?"+q.Encode(), "", nil, &es); err != nil {
		return err
	}
	var rows [][]string
	for _, e := range es {
		rows = append(rows, []string{strconv.FormatInt(e.Seq, 10), when(e.Time), string(e.Kind), e.Actor, e.Subject, e.Detail})
	}
	return table(c, es, "SEQ\tTIME\tKIND\tACTOR\tSUBJECT\tDETAIL", rows)
}

func adminAuditVerify(ctx context.Context, c *adminConn, _ []string, _ any) error {
	var res struct {
		Entries int64
		Intact  bool
	}
	if err := c.call(ctx, "GET", "/admin/v1/audit/verify", "", nil, &res); err != nil {
		return fmt.Errorf("audit log does NOT verify: %w", err)
	}
	return c.show(res, fmt.Sprintf("parleyd: audit log verifies: %d entries, chain intact\n", res.Entries))
}
