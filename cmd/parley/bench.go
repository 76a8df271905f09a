package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"os"
	"strings"
	"syscall"
	"time"

	"parley.dev/internal/loadgen"
	"parley.dev/internal/loadgen/e2ee"
)

// benchRecipe is how an operator lets a bench register its devices.
const benchRecipe = "start the relay for benchmarks with higher limits, e.g. " +
	"parleyd ... --register-rate 1000000/1h --challenge-rate 1000000/1m --device-rate 1000000/1m --request-rate 1000000/1m (see \"parley help bench\")"

// cmdBench measures a relay under load: "parley bench --server URL ...".
// The work is internal/loadgen's; this reads flags and prints.
func cmdBench(c *cli, args []string) error {
	cfg, drv, err := benchFlags(c, args)
	if err != nil {
		return err
	}
	line := c.statusLine() // the live progress line
	cfg.Progress = func(p loadgen.Progress) { line.show("bench: %s", p) }
	res, err := loadgen.Run(c.ctx, cfg, drv)
	line.clear()
	if err != nil {
		return benchError(err)
	}
	if res.Interrupted {
		c.notef("interrupted after %v: the figures cover the part that ran", res.Elapsed.Round(time.Millisecond))
	}
	if res.RelayError != "" {
		c.notef("relay %s (pass --metrics http://HOST:PORT/metrics, the relay's --metrics-listen address)", res.RelayError)
	}
	var text strings.Builder
	res.WriteText(&text)
	return c.emit(res, strings.TrimSuffix(text.String(), "\n"))
}

// benchFlags reads the command line (over the environment twins) into a
// run's configuration and the mode's driver.
func benchFlags(c *cli, args []string) (loadgen.Config, loadgen.Driver, error) {
	fs := c.flagSet("bench")
	server := fs.String("server", c.getenv(envServer), "")
	ca := fs.String("ca", c.getenv(envCA), "")
	mode := fs.String("mode", "raw", "")
	var cfg loadgen.Config
	fs.StringVar(&cfg.Target.MetricsURL, "metrics", "", "")
	fs.IntVar(&cfg.Senders, "senders", loadgen.DefaultSenders, "")
	fs.Float64Var(&cfg.Rate, "rate", 0, "")
	fs.IntVar(&cfg.Payload, "payload", loadgen.DefaultPayload, "")
	fs.DurationVar(&cfg.Duration, "duration", loadgen.DefaultDuration, "")
	fs.DurationVar(&cfg.Drain, "drain", loadgen.DefaultDrain, "")
	fs.IntVar(&cfg.Idle, "idle", 0, "")
	if err := benchEnv(c, fs); err != nil {
		return cfg, nil, err
	}
	if _, err := c.parse(fs, args, 0); err != nil {
		return cfg, nil, err
	}
	switch {
	case *server == "":
		return cfg, nil, usageErrorf("bench needs --server URL (or PARLEY_SERVER)")
	case cfg.Senders < 1 || cfg.Payload < loadgen.StampLen || cfg.Duration <= 0 || cfg.Rate < 0 || cfg.Idle < 0 || cfg.Drain < 0:
		return cfg, nil, usageErrorf("bench needs --senders ≥ 1, --payload ≥ %d, --duration > 0 and no negative setting", loadgen.StampLen)
	}
	cfg.Target.URL = *server
	if *ca != "" {
		pem, err := os.ReadFile(*ca)
		if err != nil {
			return cfg, nil, withHints(err, "--ca must name the relay's CA certificate (parleyd --dev writes DATA/ca.pem)")
		}
		cfg.Target.Roots = pem
	}
	switch *mode {
	case "raw":
		return cfg, loadgen.NewRaw(cfg.Target), nil
	case "e2ee":
		return cfg, e2ee.New(e2ee.Config{Server: *server, CAFile: *ca}), nil
	}
	return cfg, nil, usageErrorf("--mode %q: want raw or e2ee", *mode)
}

// benchEnv sets each of the command's flags from its environment twin:
// PARLEY_BENCH_ and the flag's name in capitals ("--senders":
// PARLEY_BENCH_SENDERS). --server and --ca have theirs already.
func benchEnv(c *cli, fs *flag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		switch f.Name {
		case "home", "json", "server", "ca":
			return
		}
		name := "PARLEY_BENCH_" + strings.ToUpper(f.Name)
		if v := c.getenv(name); v != "" && err == nil {
			if e := fs.Set(f.Name, v); e != nil {
				err = usageErrorf("%s: %v", name, e)
			}
		}
	})
	return err
}

// benchError adds next steps to a failed run.
func benchError(err error) error {
	var verify *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var host x509.HostnameError
	switch {
	case errors.As(err, &verify), errors.As(err, &unknownCA), errors.As(err, &host):
		return withHints(err, "for a development relay, pass its CA with --ca (parleyd --dev writes ca.pem into its data directory)")
	case errors.Is(err, syscall.EMFILE):
		return withHints(err, "each connection takes a file descriptor: raise the limit (ulimit -n, up to the hard limit) or use fewer --idle connections")
	case loadgen.ErrorCode(err) == "rate-limited":
		return withHints(err, "every bench device registers through the relay's open registration, limited to 10 per hour per network by default", benchRecipe)
	case loadgen.ErrorCode(err) == loadgen.CodeConnection:
		return withHints(err, "check the relay's URL and that it is running")
	}
	return err
}

// benchUsage is "parley help bench".
const benchUsage = `Flags:
    --server URL      the relay (https)                              PARLEY_SERVER
                      or its nodes, comma-separated
                      (https://n1:8441,https://n2:8442): the devices are
                      spread over them, each receiver on the node after its
                      sender's, so every message crosses nodes
    --ca FILE         trust this CA certificate for the relay        PARLEY_CA
    --mode MODE       raw: the wire protocol with random payloads, for the
                      relay's ceiling; e2ee: real SDK clients, each with its
                      own vault, for the whole client path (default raw)
    --senders N       sender→receiver pairs, one connection each (default 16)
    --rate R          open loop: R messages/s in all, on a fixed schedule, with
                      latencies counted from the scheduled time (default 0:
                      closed loop, each sender waits for its answer)
    --payload BYTES   bytes per message (envelope in raw, text in e2ee;
                      default 1024)
    --duration D      how long to send (default 10s)
    --drain D         how long to wait afterwards for answers (default 10s)
    --idle N          hold N more connections open, idle, one device each; on a
                      loopback relay from source addresses 127.0.0.2-254
    --metrics URL     the relay's Prometheus metrics, which parleyd serves on
                      its --metrics-listen address: http://HOST:PORT/metrics
                      (without it, no relay figures); for several nodes,
                      each node's, comma-separated: the figures are sums
    --json            print one JSON object instead of the report

Each flag has a PARLEY_BENCH_ twin (PARLEY_BENCH_SENDERS=64 ...).

It prints throughput, submit→ack and submit→deliver latency percentiles
(p50, p90, p99, p99.9, max), errors by the relay's error code, and the
relay's own figures from its metrics: CPU time per envelope, resident
memory, and memory per idle connection. A progress line shows on
standard error while it runs, when that is a terminal and without --json.

Every device registers through the relay's open registration, which allows
10 per hour per network by default, each connection takes a challenge, and
each device's requests are limited (60 a minute over HTTP and 600 over its
WebSocket by default; an e2ee Send makes one, for the device lists). Start
the relay for benchmarks with higher limits, for example:

    parleyd --dev --data /tmp/pd --listen 127.0.0.1:8443 \
        --metrics-listen 127.0.0.1:9090 --register-rate 1000000/1h \
        --challenge-rate 1000000/1m --device-rate 1000000/1m --request-rate 1000000/1m
    parley bench --server https://127.0.0.1:8443 --ca /tmp/pd/ca.pem \
        --metrics http://127.0.0.1:9090/metrics --senders 64 --duration 30s

Each run registers new users named bench-*; e2ee vaults use the SDK's
Argon2id costs (setup takes a few tenths of a second per device) and are
deleted at the end.
`
