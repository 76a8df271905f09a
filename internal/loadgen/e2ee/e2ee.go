// Package e2ee is the "e2ee" mode of parley bench: every virtual device
// is a real client.Client with its own vault, so a run measures the whole
// client path (PQXDH sessions, the Double Ratchet, durable vault commits
// on both sides, batched acks) as well as the relay.
//
// The vaults are created in a temporary directory, removed at Close, with
// the SDK's default Argon2id costs: the SDK has no cheaper setting (and a
// "bench only" weak setting in the public API would be one an app could
// ship by mistake). The KDF runs once per device, at setup, two at a time
// to bound its memory; it is never on the measured path, where the vault
// uses its data key.
//
// Before the measured run each pair exchanges one message each way, so
// every session is established and the run measures steady-state sending
// (whole messages, no prekey messages).
package e2ee

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"parley.dev/client"
	"parley.dev/internal/loadgen"
)

// Config says where the devices live.
type Config struct {
	// Server is the relay's URL, or its nodes' URLs, comma-separated,
	// over which the devices are spread as loadgen.Target.URL says (each
	// device uses one node); CAFile is its CA certificate (optional).
	Server, CAFile string
	// Dir is where the vaults go: a fresh directory is made in it and
	// removed at Close ("" means the system's temporary directory).
	Dir string
}

// setupWorkers bounds the devices created at once: each Create holds
// Argon2id's 64 MiB and both cores.
const setupWorkers = 2

// handshakeWorkers bounds the setup exchanges run at once.
const handshakeWorkers = 16

// handshakeTimeout bounds each setup exchange.
const handshakeTimeout = time.Minute

// hello is the text of the setup exchange (it carries no stamp).
const hello = "parley bench: hello"

// New returns the driver of mode "e2ee".
func New(cfg Config) loadgen.Driver { return &driver{cfg: cfg} }

type driver struct {
	cfg  Config
	dir  string
	sink *loadgen.Sink

	ctx    context.Context // ends at Close: stops every Listen
	cancel context.CancelFunc
	listen sync.WaitGroup

	mu      sync.Mutex
	devices []*device
}

// device is one virtual device and what its Listen reports.
type device struct {
	user   string
	c      *client.Client
	synced chan struct{} // closed at the first EventSynced
	hellos chan string   // senders of setup messages received
	once   sync.Once
}

func (d *driver) Name() string { return "e2ee" }

func (d *driver) Setup(ctx context.Context, pairs, payload int, sink *loadgen.Sink) ([]loadgen.Sender, error) {
	if payload > client.MaxTextLen {
		return nil, fmt.Errorf("payload of %d bytes: e2ee texts hold at most %d", payload, client.MaxTextLen)
	}
	dir, err := os.MkdirTemp(d.cfg.Dir, "parley-bench-")
	if err != nil {
		return nil, err
	}
	d.dir, d.sink = dir, sink
	d.ctx, d.cancel = context.WithCancel(context.Background())
	prefix := "bench-" + strings.ToLower(rand.Text()[:8])
	devs := make([]*device, 2*pairs) // senders, then receivers
	nodes := loadgen.Target{URL: d.cfg.Server}.Nodes()
	err = loadgen.Parallel(ctx, len(devs), setupWorkers, func(ctx context.Context, i int) error {
		name, node := fmt.Sprintf("%s-s%d", prefix, i), loadgen.SenderNode(i, len(nodes))
		if i >= pairs {
			name, node = fmt.Sprintf("%s-r%d", prefix, i-pairs), loadgen.ReceiverNode(i-pairs, len(nodes))
		}
		dev, err := d.newDevice(ctx, name, nodes[node])
		devs[i] = dev
		return err
	})
	if err != nil {
		return nil, err
	}
	err = loadgen.Parallel(ctx, pairs, handshakeWorkers, func(ctx context.Context, i int) error {
		return handshake(ctx, devs[i], devs[pairs+i])
	})
	if err != nil {
		return nil, fmt.Errorf("setup exchange: %w", err)
	}
	senders := make([]loadgen.Sender, pairs)
	for i := range senders {
		senders[i] = &sender{c: devs[i].c, to: devs[pairs+i].user, filler: strings.Repeat("x", payload-loadgen.StampLen)}
	}
	return senders, nil
}

// newDevice creates, registers and starts listening on one device, a
// client of the node at server.
func (d *driver) newDevice(ctx context.Context, user, server string) (*device, error) {
	pin := []byte(rand.Text())
	defer clear(pin)
	c := &client.Client{Home: filepath.Join(d.dir, user), Server: server, CAFile: d.cfg.CAFile}
	if err := c.Create(ctx, pin); err != nil {
		return nil, err
	}
	dev := &device{user: user, c: c, synced: make(chan struct{}), hellos: make(chan string, 1)}
	d.mu.Lock()
	d.devices = append(d.devices, dev)
	d.mu.Unlock()
	if _, err := c.Register(ctx, user, client.RegisterOptions{}); err != nil {
		return nil, fmt.Errorf("register %s: %w", user, err)
	}
	d.listen.Go(func() { c.Listen(d.ctx, func(e client.Event) { d.event(dev, e) }) })
	select {
	case <-dev.synced:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	d.sink.Ready()
	return dev, nil
}

// event handles what a device's Listen reports.
func (d *driver) event(dev *device, e client.Event) {
	switch e.Kind {
	case client.EventSynced:
		dev.once.Do(func() { close(dev.synced) })
	case client.EventMessage:
		if e.Message.Outgoing {
			return
		}
		if e.Message.Text == hello {
			select {
			case dev.hellos <- e.Message.Contact:
			default:
			}
			return
		}
		st, err := loadgen.ParseStamp([]byte(e.Message.Text))
		if err != nil {
			d.sink.Error(loadgen.CodeBadPayload)
			return
		}
		d.sink.Delivered(st)
	case client.EventError:
		if d.ctx.Err() == nil {
			d.sink.Error(loadgen.ErrorCode(codeOf(e.Err)))
		}
	}
}

// handshake sends hello from a to b and back, so both hold a session
// that has seen a reply.
func handshake(ctx context.Context, a, b *device) error {
	ctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	for _, step := range [][2]*device{{a, b}, {b, a}} {
		from, to := step[0], step[1]
		if _, err := from.c.Send(ctx, to.user, hello); err != nil {
			return fmt.Errorf("%s to %s: %w", from.user, to.user, err)
		}
		select {
		case <-to.hellos:
		case <-ctx.Done():
			return fmt.Errorf("%s to %s: not delivered: %w", from.user, to.user, ctx.Err())
		}
	}
	return nil
}

func (d *driver) Settle(context.Context) error { return nil } // clients confirm their own acks

func (d *driver) Close() error {
	if d.cancel == nil {
		return nil
	}
	d.cancel()
	d.listen.Wait()
	d.mu.Lock()
	devs := d.devices
	d.devices = nil
	d.mu.Unlock()
	var errs []error
	for _, dev := range devs {
		errs = append(errs, dev.c.Close())
	}
	errs = append(errs, os.RemoveAll(d.dir))
	return errors.Join(errs...)
}

// sender sends stamped texts from one device to one user.
type sender struct {
	c      *client.Client
	to     string
	filler string
}

func (s *sender) Send(ctx context.Context, st loadgen.Stamp) error {
	text := string(st.AppendText(make([]byte, 0, loadgen.StampLen+len(s.filler)))) + s.filler
	_, err := s.c.Send(ctx, s.to, text)
	return codeOf(err)
}

// codeOf names an SDK error by the relay's wire code where it has one.
func codeOf(err error) error {
	var re *client.RelayError
	code := ""
	switch {
	case err == nil:
		return nil
	case errors.As(err, &re):
		code = re.Code
	case errors.Is(err, client.ErrRateLimited):
		code = "rate-limited"
	case errors.Is(err, client.ErrRevoked):
		code = "unauthorized"
	case errors.Is(err, client.ErrUnknownUser):
		code = "unknown-user"
	case errors.Is(err, client.ErrUnreachable):
		code = loadgen.CodeConnection
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		code = loadgen.CodeTimeout
	default:
		code = loadgen.CodeClient
	}
	return &loadgen.CodeError{Code: code, Err: err}
}
