package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"parley.dev/internal/certfile"
)

// certPoll is how often the relay looks at --tls-cert and --tls-key for a
// change; a var for tests.
var certPoll = certfile.DefaultPoll

// reloadCerts reloads the certificate files (with --tls-cert) on SIGHUP
// and when they change, until ctx ends or the returned stop is called.
// SIGHUP never stops the relay: in the other TLS modes it is logged and
// ignored (--dev's certificate is made at startup; ACME renews by itself).
func reloadCerts(ctx context.Context, certs *certfile.Reloader, log *slog.Logger) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if certs != nil {
			certs.Watch(ctx, certPoll, hup)
			return
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				log.Info("SIGHUP: nothing to reload (only --tls-cert and --tls-key are reloaded)")
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		cancel()
		<-done
	}
}
