// Command parleyd runs the Parley relay: TLS 1.3, device authentication, a
// prekey directory and offline mailboxes in an embedded SQLite database.
//
//	parleyd --dev --data DIR --listen 127.0.0.1:8443
//	parleyd --data DIR --tls-cert cert.pem --tls-key key.pem
//	parleyd --data DIR --acme-domain relay.example.com
//	parleyd token-key --out token
//	parleyd token --key token.key --ttl 1h alice
//	parleyd migrate --store postgres://db.example/parley
//	parleyd health --url https://127.0.0.1:8443/readyz
//
// Every flag has a PARLEY_* environment twin; run "parleyd --help".
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	case errors.As(err, new(usageError)):
		fmt.Fprintf(os.Stderr, "parleyd: %v\nRun \"parleyd --help\" for usage.\n", err)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "parleyd: %v\n", err)
		os.Exit(1)
	}
}

// run is parleyd: it dispatches to a subcommand or runs the relay until
// ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "token-key":
			return runTokenKey(args[1:], stdout, stderr)
		case "token":
			return runToken(args[1:], stdout, stderr)
		case "migrate":
			return runMigrate(ctx, args[1:], stdout)
		case "audit":
			return runAudit(ctx, args[1:], stdout)
		case "backup":
			return runBackup(ctx, args[1:], stdout)
		case "restore":
			return runRestore(ctx, args[1:], stdout)
		case "health":
			return runHealth(ctx, args[1:], stdout)
		case "policy-key":
			return runPolicyKey(args[1:], stdout, stderr)
		case "policy":
			return runPolicy(ctx, args[1:], stdout, stderr)
		case "admin":
			return runAdmin(ctx, args[1:], stdout)
		case "help":
			io.WriteString(stdout, usage)
			return nil
		}
	}
	cfg, err := parseFlags(args, stdout, stderr)
	if err != nil {
		return err
	}
	return serve(ctx, cfg, stdout, stderr)
}

// usageError is a mistake in the command line or environment.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

const usage = `Usage:
  parleyd [flags]                         run the relay
  parleyd token-key [--out PREFIX]        make a registration token key pair
  parleyd token --key FILE [--ttl D] USER mint a registration token for USER
  parleyd migrate [--data DIR | --store DSN]
                                          bring the database schemas (the store's
                                          and the blob store's) up to date
  parleyd audit verify [--data DIR | --store DSN]
                                          check the audit log's hash chain: exit 1
                                          at an edited, deleted or reordered entry
  parleyd audit export [--since TIME] [--data DIR | --store DSN]
                                          the audit log as JSON lines (TIME: RFC 3339)
  parleyd backup [--data DIR] --out FILE  an online, consistent snapshot of the
                                          embedded store and blobs (a tar file;
                                          on PostgreSQL use pg_dump)
  parleyd restore --from FILE [--data DIR]
                                          unpack a backup into an empty DIR and
                                          drop its one-time prekeys
  parleyd health [--url URL] [--ca FILE]  probe a running relay's /readyz (by
                                          default https://127.0.0.1:PORT/readyz,
                                          PORT from --listen); exit 0 if ready.
                                          Without --ca, only a loopback URL,
                                          whose certificate is not verified
  parleyd policy-key [--out PREFIX]       make a tenant policy key pair
  parleyd policy sign --key FILE --in policy.json --out policy.signed
                                          sign a tenant policy (docs/compliance.md)
  parleyd policy publish [--data DIR | --store DSN] --in policy.signed
                                          have the relay serve a signed policy
  parleyd admin [--json] COMMAND ...     the admin console of a running relay:
                                          users, devices, revoke, suspend, resume,
                                          delete, token, policy publish, audit show,
                                          audit verify ("parleyd admin --help")
  parleyd policy show [--pub FILE] policy.signed
                                          print a signed policy, verified with --pub

TLS (exactly one):
  --dev                   development: a local CA and a certificate for
                          localhost, 127.0.0.1 and ::1, kept in --data
                          (clients trust DATA/ca.pem)
  --tls-cert FILE --tls-key FILE
                          certificate chain and key, PEM; read again on
                          SIGHUP and when either file changes (a pair that
                          does not load is refused, logged, and the old one
                          stays in use)
  --acme-domain NAMES     certificates from Let's Encrypt for these
                          comma-separated names (TLS-ALPN-01 on --listen,
                          which must be reachable on port 443); cache in
                          DATA/acme
  --acme-email ADDR       contact address for the ACME account

Relay:
  --data DIR              data directory (default "parleyd-data")
  --listen ADDR           TLS listen address (default ":8443")
  --store DSN             database instead of DATA/parley.db: a SQLite file,
                          or postgres://... for several relay nodes
  --store-writers N       write connections to PostgreSQL (default 2; more
                          for a remote database, 1 on a small shared box)
  --migrate BOOL          migrate the schemas at startup (default true); with
                          false, run "parleyd migrate" first and the relay
                          only checks that the schemas are current
  --nats URL              NATS server(s), nats://host:port[,...]: carries
                          wake-ups between relay nodes sharing a PostgreSQL
                          --store (without it, a node learns of another's
                          messages only by its periodic re-check)
  --nats-prefix SUBJECT   subject prefix shared by one deployment's nodes
                          (default "parley.wake")
  --registration MODE     "open" (rate-limited per network; the default)
                          or "token" (every registration needs a token)
  --token-key FILE        the Ed25519 public key (PEM) that verifies
                          registration tokens; required with "token"
  --max-envelope BYTES    largest envelope accepted (default 262144)
  --mailbox-cap N         most envelopes queued per device (default 20000)
  --mailbox-ttl DURATION  how long an envelope waits (default 720h)
  --admin-listen ADDR     the admin console ("parleyd admin"): by default
                          the unix socket DATA/admin.sock (mode 0600);
                          PATH or unix:PATH for another socket (in a
                          directory only the relay's user may write to);
                          tcp://127.0.0.1:PORT for loopback TLS with client
                          certificates (needs --admin-client-ca); off
  --admin-client-ca FILE  CA certificates of admin clients (tcp only)
  --audit-retention DURATION
                          prune audit log entries older than this (a
                          prune is itself logged); default 0: keep all
  --checkpoint-interval DURATION
                          how long, at most, an acknowledged envelope's
                          bytes, or a deleted blob's metadata, stay in any
                          file of the SQLite stores (default 1m; also done
                          at shutdown)
  --max-conns N           most WebSocket connections in all (default 100000);
                          each idle one costs about 10 kB and a file descriptor
  --max-device-conns N    most WebSocket connections per device (default 4);
                          a newer one displaces the oldest
  --challenge-rate RATE   challenges per client network, a coarse bound for
                          everyone behind one address (default 600/1m)
  --device-rate RATE      authenticated requests per device (default 60/1m)
  --request-rate RATE     requests over a device's WebSockets, per device
                          (default 600/1m)
  --register-rate RATE    registrations per client network (default 10/1h)
  --bundle-rate RATE      prekey bundles per requesting device (default 60/1m)
  --max-blob-size BYTES   largest attachment file (default 104857600)
  --blob-ttl DURATION     how long an attachment is kept after its upload
                          (default 720h; an unfinished upload: 24h)
  --blob-quota BYTES      attachment bytes one user may keep (default
                          1073741824)
  --blob-upload-rate RATE blob creations and upload requests per device
                          (default 600/1m)
  --blob-download-rate RATE
                          blob downloads per client network (default 600/1m)
  --unlock-max-failures N wrong PINs in a row after which a vault's relay
                          key is destroyed for good (default 10)
  --unlock-rate RATE      unlock requests per client network (default 120/1m)
  --unlock-credential-rate RATE
                          unlock requests per vault (default 60/1m)
  --push-gateway URL      the push gateway (cmd/parley-push) that wakes
                          phones with no connection when mail waits for them;
                          without it the relay keeps no push tokens
  --push-secret SECRET    the key (at least 32 bytes) signing each request to
                          the gateway, or @FILE to read it from FILE; prefer
                          PARLEY_PUSH_SECRET or a file to the command line
  --push-window DURATION  at most one wake-up per device per window while its
                          mail waits (default 30s)
  --trusted-proxies NETS  comma-separated networks (CIDR or addresses) of the
                          load balancers in front of the relay: for their
                          connections the client's address, which the
                          per-network limits use, is taken from
                          X-Forwarded-For or the PROXY header; from anyone
                          else both are ignored
  --proxy-protocol        require a PROXY protocol v2 header on every
                          connection from --trusted-proxies (a TCP balancer
                          such as HAProxy or an AWS NLB sending one)
  --metrics-listen ADDR   serve /metrics there, over plain HTTP, for example
                          127.0.0.1:9090 (the TLS listener serves only the
                          API; without this flag there are no metrics)
  --log-level LEVEL       debug, info, warn or error (default info)
  --log-format FORMAT     text (the default) or json: one JSON object a line
  --drain-delay DURATION  on SIGINT or SIGTERM, answer /readyz with 503 for
                          this long, still serving, before stopping (give
                          a load balancer time to stop sending clients;
                          default 0)

A RATE is BURST/DURATION, such as 10/1h. Every flag can also be set by an
environment variable: PARLEY_ and the flag's name in capitals with "_" for
"-", such as PARLEY_MAILBOX_TTL=240h. Flags override the environment.

SIGINT or SIGTERM stops the relay gracefully: /readyz answers 503, then
after --drain-delay it finishes the requests and submissions in progress,
closes every connection and the database. /healthz answers 200 while the
process serves; /readyz 200 only while it should get new clients (both on
--listen and, with "starting" during startup, on --metrics-listen).
`
