// Package certfile serves a TLS certificate read from a pair of PEM
// files and reads them again when told to (SIGHUP) or when they change
// on disk, so that a renewed certificate takes effect without a restart.
//
// A new pair that does not load (a key that does not match, a half-written
// file) is refused: the certificate in use stays, and the error is
// returned and logged. Connections already open keep the certificate they
// were made with; the next handshake gets the new one.
package certfile

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultPoll is how often Watch looks at the files.
const DefaultPoll = 10 * time.Second

// Reloader holds the certificate of a pair of files. Make one with New.
// It is safe for concurrent use.
type Reloader struct {
	certFile, keyFile string
	log               *slog.Logger
	cert              atomic.Pointer[tls.Certificate]

	mu   sync.Mutex // serializes Reload; guards seen
	seen [2]stamp   // the files as last read (or tried)
}

// stamp is what Watch compares to notice a changed file.
type stamp struct {
	size    int64
	modTime time.Time
	ok      bool
}

func stampOf(path string) stamp {
	fi, err := os.Stat(path)
	if err != nil {
		return stamp{}
	}
	return stamp{size: fi.Size(), modTime: fi.ModTime(), ok: true}
}

// New loads the pair. log receives reloads and refusals (nil is silent);
// nothing logged carries key material.
func New(certFile, keyFile string, log *slog.Logger) (*Reloader, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Reloader{certFile: certFile, keyFile: keyFile, log: log}
	if err := r.load(); err != nil {
		return nil, err
	}
	return r, nil
}

// GetCertificate is a tls.Config.GetCertificate: the pair last loaded.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.cert.Load(), nil
}

// Certificate returns the pair last loaded.
func (r *Reloader) Certificate() *tls.Certificate { return r.cert.Load() }

// Reload reads the files again. If they do not load, the certificate in
// use stays and the error says why.
func (r *Reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.load()
}

func (r *Reloader) load() error {
	r.seen = [2]stamp{stampOf(r.certFile), stampOf(r.keyFile)}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		err = fmt.Errorf("certfile: %w", err)
		if r.cert.Load() != nil {
			r.log.Error("TLS certificate not reloaded; the old one stays in use", "cert", r.certFile, "err", err)
		}
		return err
	}
	old := r.cert.Swap(&cert)
	if old != nil {
		r.log.Info("TLS certificate reloaded", "cert", r.certFile, "subject", cert.Leaf.Subject.String(), "not_after", cert.Leaf.NotAfter)
	}
	return nil
}

// changed reports whether either file differs from when it was last read.
func (r *Reloader) changed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen != [2]stamp{stampOf(r.certFile), stampOf(r.keyFile)}
}

// Watch reloads the pair whenever either file's size or modification time
// changes, looking every poll (DefaultPoll if not positive), and whenever
// a value arrives on reload (a SIGHUP), until ctx ends. A pair that does
// not load is tried again only once a file changes again (a renewal that
// writes the certificate and the key one after the other is picked up at
// the second write).
func (r *Reloader) Watch(ctx context.Context, poll time.Duration, reload <-chan os.Signal) {
	if poll <= 0 {
		poll = DefaultPoll
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-reload:
			r.Reload()
		case <-t.C:
			if r.changed() {
				r.Reload()
			}
		}
	}
}
