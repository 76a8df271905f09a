package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"time"

	"parley.dev/internal/fanout"
	"parley.dev/internal/wire"
	"parley.dev/server"
)

// envPrefix starts every flag's environment twin.
const envPrefix = "PARLEY_"

// config is the relay's command line.
type config struct {
	data, listen, store, metricsListen string
	nats, natsPrefix                   string
	dev, migrate                       bool
	tlsCert, tlsKey                    string
	acmeDomains, acmeEmail             string
	registration, tokenKey             string
	maxEnvelope, mailboxCap            int
	storeWriters                       int
	mailboxTTL, checkpointInterval     time.Duration
	maxConns, maxDeviceConns           int
	challengeRate, registerRate        rateFlag
	bundleRate, deviceRate             rateFlag
	trustedProxies                     prefixesFlag
	proxyProtocol                      bool
	unlockMaxFailures                  int
	unlockRate, unlockCredentialRate   rateFlag
	logLevel                           slog.Level
	logFormat                          string        // logging.go
	drainDelay                         time.Duration // serve.go
	blobs                              blobFlags     // flags_blob.go

	requestRate    rateFlag      // Request frames over WebSockets, per device
	auditRetention time.Duration // audit entries older than this are pruned; 0 keeps all
	adminListen    string        // adminlisten.go
	adminClientCA  string
	push           pushFlags // flags_push.go
}

// prefixesFlag is a comma-separated list of networks as a flag.Value.
type prefixesFlag struct{ prefixes []netip.Prefix }

func (p *prefixesFlag) Set(s string) (err error) {
	p.prefixes, err = server.ParsePrefixes(s)
	return err
}

func (p *prefixesFlag) String() string {
	var ss []string
	for _, x := range p.prefixes {
		ss = append(ss, x.String())
	}
	return strings.Join(ss, ",")
}

// rateFlag is a server.Rate as a flag.Value.
type rateFlag struct{ server.Rate }

func (r *rateFlag) Set(s string) (err error) {
	r.Rate, err = server.ParseRate(s)
	return err
}

func (r *rateFlag) String() string { return r.Rate.String() }

func newFlagSet(cfg *config) *flag.FlagSet {
	fs := flag.NewFlagSet("parleyd", flag.ContinueOnError)
	fs.StringVar(&cfg.data, "data", "parleyd-data", "")
	fs.StringVar(&cfg.listen, "listen", ":8443", "")
	fs.StringVar(&cfg.store, "store", "", "")
	fs.BoolVar(&cfg.migrate, "migrate", true, "")
	fs.IntVar(&cfg.storeWriters, "store-writers", 0, "")
	fs.StringVar(&cfg.nats, "nats", "", "")
	fs.StringVar(&cfg.natsPrefix, "nats-prefix", fanout.DefaultNATSPrefix, "")
	fs.StringVar(&cfg.metricsListen, "metrics-listen", "", "")
	fs.BoolVar(&cfg.dev, "dev", false, "")
	fs.StringVar(&cfg.tlsCert, "tls-cert", "", "")
	fs.StringVar(&cfg.tlsKey, "tls-key", "", "")
	fs.StringVar(&cfg.acmeDomains, "acme-domain", "", "")
	fs.StringVar(&cfg.acmeEmail, "acme-email", "", "")
	fs.StringVar(&cfg.registration, "registration", string(server.RegisterOpen), "")
	fs.StringVar(&cfg.tokenKey, "token-key", "", "")
	fs.IntVar(&cfg.maxEnvelope, "max-envelope", wire.DefaultMaxEnvelope, "")
	fs.IntVar(&cfg.mailboxCap, "mailbox-cap", server.DefaultMailboxCap, "")
	fs.DurationVar(&cfg.mailboxTTL, "mailbox-ttl", server.DefaultMailboxTTL, "")
	fs.DurationVar(&cfg.auditRetention, "audit-retention", 0, "")
	fs.StringVar(&cfg.adminListen, "admin-listen", "", "")
	fs.StringVar(&cfg.adminClientCA, "admin-client-ca", "", "")
	fs.DurationVar(&cfg.checkpointInterval, "checkpoint-interval", server.DefaultCheckpointInterval, "")
	fs.IntVar(&cfg.maxConns, "max-conns", server.DefaultMaxConns, "")
	fs.IntVar(&cfg.maxDeviceConns, "max-device-conns", server.DefaultMaxDeviceConns, "")
	cfg.challengeRate.Rate = server.DefaultChallengeRate
	cfg.registerRate.Rate = server.DefaultRegisterRate
	cfg.bundleRate.Rate = server.DefaultBundleRate
	cfg.deviceRate.Rate = server.DefaultDeviceRate
	cfg.requestRate.Rate = server.DefaultRequestRate
	fs.Var(&cfg.challengeRate, "challenge-rate", "")
	fs.Var(&cfg.registerRate, "register-rate", "")
	fs.Var(&cfg.bundleRate, "bundle-rate", "")
	fs.Var(&cfg.deviceRate, "device-rate", "")
	fs.Var(&cfg.requestRate, "request-rate", "")
	fs.Var(&cfg.trustedProxies, "trusted-proxies", "")
	fs.BoolVar(&cfg.proxyProtocol, "proxy-protocol", false, "")
	fs.IntVar(&cfg.unlockMaxFailures, "unlock-max-failures", server.DefaultUnlockMaxFailures, "")
	cfg.unlockRate.Rate = server.DefaultUnlockRate
	cfg.unlockCredentialRate.Rate = server.DefaultUnlockCredentialRate
	fs.Var(&cfg.unlockRate, "unlock-rate", "")
	fs.Var(&cfg.unlockCredentialRate, "unlock-credential-rate", "")
	fs.TextVar(&cfg.logLevel, "log-level", slog.LevelInfo, "")
	fs.StringVar(&cfg.logFormat, "log-format", logText, "")
	fs.DurationVar(&cfg.drainDelay, "drain-delay", 0, "")
	cfg.blobs.register(fs)
	cfg.push.register(fs)
	return fs
}

// envName is a flag's environment twin: "mailbox-ttl" -> PARLEY_MAILBOX_TTL.
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseWithEnv sets fs's flags from their environment twins, then parses
// args over them.
func parseWithEnv(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if v, ok := os.LookupEnv(envName(f.Name)); ok && envErr == nil {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = usagef("%s: %v", envName(f.Name), err)
			}
		}
	})
	if envErr != nil {
		return envErr
	}
	return fs.Parse(args)
}

// parseFlags reads the environment, then the command line over it.
func parseFlags(args []string, stdout, stderr io.Writer) (*config, error) {
	cfg := new(config)
	fs := newFlagSet(cfg)
	if err := parseWithEnv(fs, args); err != nil {
		if err == flag.ErrHelp {
			io.WriteString(stdout, usage)
			return nil, err
		}
		return nil, usageError{err}
	}
	if fs.NArg() > 0 {
		return nil, usagef("unexpected argument %q", fs.Arg(0))
	}
	return cfg, cfg.check()
}

// check refuses contradictory settings.
func (c *config) check() error {
	modes := 0
	for _, on := range []bool{c.dev, c.tlsCert != "" || c.tlsKey != "", c.acmeDomains != ""} {
		if on {
			modes++
		}
	}
	switch {
	case modes == 0:
		return usagef("no TLS certificate: use --dev, --tls-cert and --tls-key, or --acme-domain")
	case modes > 1:
		return usagef("choose one of --dev, --tls-cert/--tls-key and --acme-domain")
	case (c.tlsCert == "") != (c.tlsKey == ""):
		return usagef("--tls-cert and --tls-key go together")
	case c.registration != string(server.RegisterOpen) && c.registration != string(server.RegisterToken):
		return usagef("--registration %q: want open or token", c.registration)
	case c.registration == string(server.RegisterToken) && c.tokenKey == "":
		return usagef("--registration token needs --token-key (make one with \"parleyd token-key\")")
	case c.data == "":
		return usagef("--data is empty")
	case c.nats != "" && !strings.HasPrefix(c.store, "postgres"):
		return usagef("--nats joins relay nodes that share a PostgreSQL --store")
	case c.proxyProtocol && len(c.trustedProxies.prefixes) == 0:
		return usagef("--proxy-protocol needs --trusted-proxies: headers are believed only from them")
	case c.logFormat != logText && c.logFormat != logJSON:
		return usagef("--log-format %q: want text or json", c.logFormat)
	case !strings.HasPrefix(c.adminListen, "tcp://") && c.adminClientCA != "":
		return usagef("--admin-client-ca is for a tcp:// --admin-listen; a unix socket is guarded by its mode")
	case c.drainDelay < 0:
		return usagef("--drain-delay must not be negative")
	case c.checkpointInterval <= 0:
		return usagef("--checkpoint-interval must be positive")
	case c.unlockMaxFailures < 1 || c.unlockMaxFailures > server.MaxUnlockMaxFailures:
		return usagef("--unlock-max-failures %d: want 1..%d", c.unlockMaxFailures, server.MaxUnlockMaxFailures)
	}
	if _, err := parseAdminListen(c.adminListen, c.data, c.adminClientCA); err != nil {
		return err
	}
	if err := c.push.check(); err != nil {
		return err
	}
	return c.blobs.check()
}

func (c *config) String() string {
	mode := "tls files"
	switch {
	case c.dev:
		mode = "dev mode"
	case c.acmeDomains != "":
		mode = "acme"
	}
	return fmt.Sprintf("%s, %s registration", mode, c.registration)
}

// parseSub parses a subcommand's flags with their environment twins,
// prints the usage for --help and refuses arguments.
func parseSub(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	if err := parseWithEnv(fs, args); err != nil {
		if err == flag.ErrHelp {
			io.WriteString(stdout, usage)
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usagef("%s: unexpected argument %q", strings.TrimPrefix(fs.Name(), "parleyd "), fs.Arg(0))
	}
	return nil
}
