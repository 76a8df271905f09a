package server

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"parley.dev/internal/fanout"
	"parley.dev/internal/push"
	"parley.dev/internal/store"
	"parley.dev/internal/unlock"
	"parley.dev/internal/wire"
	"parley.dev/server/internal/wsconn"
)

// DatabaseFile is the SQLite database's name inside DataDir.
const DatabaseFile = "parley.db"

// RegistrationMode says who may register.
type RegistrationMode string

const (
	// RegisterOpen lets anyone register, rate-limited per client network
	// (consumer apps, development). It is the zero value's mode.
	RegisterOpen RegistrationMode = "open"
	// RegisterToken requires, for every registration, a token signed by
	// the host app's backend key (Server.TokenKey); see
	// NewRegistrationToken.
	RegisterToken RegistrationMode = "token"
)

// Defaults of the Server fields.
const (
	DefaultMailboxCap      = store.DefaultMailboxCap
	DefaultMailboxTTL      = 720 * time.Hour
	DefaultWindow          = wire.MaxAckBatch // 1,024: a drain stores and acks 512 per commit
	DefaultMaxInFlight     = 64
	DefaultPreKeyLowWater  = 10
	DefaultChallengeTTL    = 60 * time.Second
	DefaultWriteTimeout    = 15 * time.Second
	DefaultSweepInterval   = time.Minute
	DefaultRecheckInterval = time.Minute
	// DefaultCheckpointInterval is the bound on how long a deleted
	// envelope stays in a file of a SQLite store (CheckpointInterval).
	DefaultCheckpointInterval = store.DefaultCheckpointInterval
	DefaultMaxDeviceConns     = 4
	DefaultMaxConns           = 100_000
)

// Default rates.
var (
	// DefaultChallengeRate is a coarse outer bound per client network:
	// behind a carrier NAT many devices share one address, and each
	// device has its own, tighter DefaultDeviceRate.
	DefaultChallengeRate = Rate{Burst: 600, Per: time.Minute}
	DefaultDeviceRate    = Rate{Burst: 60, Per: time.Minute}
	// DefaultRequestRate bounds Request frames over a device's
	// authenticated WebSockets: they verify no signature and spend no
	// challenge, so the budget is larger than DefaultDeviceRate's, enough
	// for a burst of a few hundred sends (each may list devices) at once.
	DefaultRequestRate  = Rate{Burst: 600, Per: time.Minute}
	DefaultRegisterRate = Rate{Burst: 10, Per: time.Hour}
	DefaultBundleRate   = Rate{Burst: 60, Per: time.Minute}
)

// Server is a Parley relay. Configure it by setting fields, then call
// Serve (or ListenAndServe) and, to stop, Shutdown. Zero fields take the
// defaults named beside them. Fields must not change once the server has
// started. A Server is safe for concurrent use; it cannot be restarted
// after Shutdown (make a new one on the same DataDir).
type Server struct {
	// DataDir holds the SQLite database (DatabaseFile); it is created if
	// missing. Required unless StoreDSN is set.
	DataDir string
	// StoreDSN names the database instead of DataDir: a SQLite file path
	// (optionally "sqlite:"-prefixed) or a "postgres://" URL.
	StoreDSN string
	// StoreWriters is how many write connections a PostgreSQL store uses
	// (store.Options.Writers; default 2).
	StoreWriters int
	// NoMigrate makes Start check that the database schemas (the store's
	// and the blob store's) are current instead of migrating them: run
	// the migrations as a step of their own (Migrate; parleyd migrate).
	NoMigrate bool
	// NATSURL, if set, is the NATS server (comma-separated nats:// URLs)
	// that carries wake-ups between relay nodes sharing one PostgreSQL
	// StoreDSN. Without it wake-ups stay in this process (one node).
	NATSURL string
	// NATSPrefix starts the relay's NATS subjects
	// (fanout.DefaultNATSPrefix); the nodes of one deployment share it.
	NATSPrefix string
	// FallbackPoll is how often each connection re-reads its mailbox
	// while NATS is unreachable (DefaultFallbackPoll); the relay checks its
	// connected devices for revocation every 5 FallbackPolls meanwhile.
	FallbackPoll time.Duration
	// TLSConfig holds the relay's certificates (required). Whatever it
	// says, the relay speaks TLS 1.3 only and HTTP/1.1. DevTLS makes one
	// for development; golang.org/x/crypto/acme/autocert's
	// Manager.TLSConfig another.
	TLSConfig *tls.Config

	// Registration is RegisterOpen (the default) or RegisterToken.
	Registration RegistrationMode
	// TokenKey verifies registration tokens (required with RegisterToken).
	TokenKey ed25519.PublicKey

	// MaxEnvelope is the largest envelope payload accepted, in bytes
	// (default wire.DefaultMaxEnvelope, at most store.MaxPayloadLen).
	MaxEnvelope int
	// MailboxCap is the most envelopes queued per device
	// (DefaultMailboxCap).
	MailboxCap int
	// MailboxTTL is how long an envelope waits for its device before it
	// expires and its sender is told (DefaultMailboxTTL).
	MailboxTTL time.Duration
	// AuditRetention is how long audit log entries are kept; older ones
	// are pruned by the sweep, which logs each prune in the chain. 0
	// keeps them all.
	AuditRetention time.Duration
	// Window is the most deliveries a connection has unacknowledged
	// (DefaultWindow).
	Window int
	// MaxInFlight is the most submissions of one connection processed at
	// once (DefaultMaxInFlight); further frames wait to be read.
	MaxInFlight int
	// PreKeyLowWater: a device whose one-time prekeys of either kind fall
	// below it is told to upload more (DefaultPreKeyLowWater).
	PreKeyLowWater int

	// ChallengeRate limits challenges per client network, and so every
	// authenticated request from it (DefaultChallengeRate): a coarse
	// outer bound, since many devices may share a network.
	ChallengeRate Rate
	// DeviceRate limits authenticated requests, WebSocket upgrades
	// included, per device (DefaultDeviceRate). Only requests whose proof
	// verifies count, so nobody can spend another device's allowance.
	DeviceRate Rate
	// RequestRate limits requests over a device's WebSockets (Request
	// frames), per device (DefaultRequestRate); the upgrade itself counts
	// against DeviceRate. Bundle fetches also count against BundleRate.
	RequestRate Rate
	// RegisterRate limits registrations per client network
	// (DefaultRegisterRate).
	RegisterRate Rate
	// BundleRate limits prekey bundle fetches per requesting device
	// (DefaultBundleRate).
	BundleRate Rate
	// UnlockMaxFailures is how many wrong PINs in a row destroy a vault's
	// relay key, after which that vault can never be opened (the relay PIN
	// factor; DefaultUnlockMaxFailures, at most MaxUnlockMaxFailures).
	UnlockMaxFailures int
	// UnlockRate limits unlock requests of locked vaults per client
	// network (DefaultUnlockRate).
	UnlockRate Rate
	// UnlockCredentialRate limits unlock requests per vault credential
	// (DefaultUnlockCredentialRate).
	UnlockCredentialRate Rate
	// ChallengeTTL is how long a challenge stays valid (DefaultChallengeTTL,
	// at least a second). Challenges are stateless; see challenge.go.
	ChallengeTTL time.Duration

	// TrustedProxies are the networks of the load balancers or reverse
	// proxies in front of the relay. A request whose connection comes
	// from one of them is keyed for rate limits by the client address the
	// proxy reports: the PROXY header's (with ProxyProtocol) or
	// X-Forwarded-For's. From any other peer neither is believed.
	TrustedProxies []netip.Prefix
	// ProxyProtocol requires a PROXY protocol v2 header at the start of
	// every connection from TrustedProxies (a TCP load balancer that
	// sends one). Other peers are served as direct clients.
	ProxyProtocol bool

	// WriteTimeout bounds one WebSocket write: a client that stops reading
	// is disconnected after it (DefaultWriteTimeout).
	WriteTimeout time.Duration
	// SweepInterval is how often expired envelopes are swept
	// (DefaultSweepInterval).
	SweepInterval time.Duration
	// RecheckInterval is how often an idle connection re-reads its mailbox
	// in case a wake-up was lost (DefaultRecheckInterval).
	RecheckInterval time.Duration
	// CheckpointInterval bounds how long an acknowledged or expired
	// envelope's bytes, and an expired or deleted blob's metadata, stay in
	// any file of a SQLite store: that often each WAL is checkpointed into
	// its database (where secure_delete has zeroed them) and truncated,
	// and once more at Shutdown (store.DefaultCheckpointInterval, one
	// minute; negative: only at Shutdown). PostgreSQL ignores it. A blob's
	// file is removed when it expires or is deleted.
	CheckpointInterval time.Duration
	// MaxDeviceConns is the most WebSockets one device may have open
	// (DefaultMaxDeviceConns); a newer one displaces the oldest, which is
	// told why (wire.CodeDisplaced).
	MaxDeviceConns int
	// MaxConns is the most WebSockets the relay holds (DefaultMaxConns);
	// beyond it upgrades are refused with wire.CodeConnLimit. Each idle
	// connection costs about 10 kB of memory and one file descriptor.
	MaxConns int

	// MaxBlobSize is the largest attachment file accepted, in bytes
	// (DefaultMaxBlobSize); its blob is larger by the encryption's
	// overhead (17 bytes and 16 per 64 KiB).
	MaxBlobSize int64
	// BlobTTL is how long a finished blob is kept (DefaultBlobTTL); an
	// unfinished upload expires DefaultBlobUploadTTL after it began.
	BlobTTL time.Duration
	// BlobQuota is the most bytes of blobs one user may keep at once
	// (DefaultBlobQuota).
	BlobQuota int64
	// BlobUploadRate limits blob creations and upload requests per device
	// (DefaultBlobUploadRate).
	BlobUploadRate Rate
	// BlobDownloadRate limits blob downloads per client network
	// (DefaultBlobDownloadRate).
	BlobDownloadRate Rate

	// PushGateway, if set, is the URL of the operator's push gateway
	// (cmd/parley-push): the relay POSTs it a signed, content-free
	// wake-up for a device with a push token when mail is stored for it
	// while it has no connection (see push.go). PushSecret (at least 32
	// bytes) signs the requests; PushWindow is the most one device is
	// woken, once per window (DefaultPushWindow).
	PushGateway string
	PushSecret  []byte
	PushWindow  time.Duration

	// Logger receives operational events; nil is silent. Nothing logged
	// carries envelope bytes, keys, proofs or tokens.
	Logger *slog.Logger
	// Now is the clock (default time.Now); tests inject their own.
	Now func() time.Time

	mu       sync.Mutex
	r        *relay
	stopped  bool
	started  atomic.Bool // s.r is set; ready.go
	draining atomic.Bool // Drain; ready.go
}

// ErrServerClosed is returned by Serve and Start after Shutdown.
var ErrServerClosed = errors.New("server: closed")

// Start opens the database and starts background work. Serve calls it;
// call it first to learn of configuration errors before serving.
func (s *Server) Start(ctx context.Context) error {
	_, err := s.relay(ctx)
	return err
}

func (s *Server) relay(ctx context.Context) (*relay, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil, ErrServerClosed
	}
	if s.r != nil {
		return s.r, nil
	}
	r, err := newRelay(ctx, s)
	if err != nil {
		return nil, err
	}
	s.r = r
	s.started.Store(true)
	return r, nil
}

// Serve accepts TLS connections on l until Shutdown, when it returns nil.
// It closes l.
func (s *Server) Serve(l net.Listener) error {
	r, err := s.relay(context.Background())
	if err != nil {
		l.Close()
		return err
	}
	err = r.http.Serve(wsconn.NewListener(r.listener(l), r.tls))
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// ListenAndServe listens on the TCP address addr and calls Serve.
func (s *Server) ListenAndServe(addr string) error {
	if err := s.Start(context.Background()); err != nil {
		return err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	return s.Serve(l)
}

// Shutdown stops the relay gracefully: it stops accepting, lets running
// requests finish, closes every WebSocket (submissions already read are
// completed first), stops the sweeper and closes the database. If ctx ends
// first, remaining connections are cut and Shutdown returns ctx's error
// after closing the database.
func (s *Server) Shutdown(ctx context.Context) error {
	s.Drain()
	s.mu.Lock()
	r := s.r
	s.stopped = true
	s.mu.Unlock()
	if r == nil {
		return nil
	}
	return r.shutdown(ctx)
}

// MetricsHandler serves the relay's metrics in the Prometheus text format.
// It is valid after Start. The relay's own listener never serves them
// (its /metrics is not-found, like any other unknown path): mount this
// handler on a private listener, as parleyd's --metrics-listen does.
func (s *Server) MetricsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		setHeaders(w.Header(), false)
		s.mu.Lock()
		r := s.r
		s.mu.Unlock()
		if r == nil {
			http.Error(w, "relay not started", http.StatusServiceUnavailable)
			return
		}
		r.metrics.ServeHTTP(w, req)
	})
}

// relay is a started Server: resolved settings and running state.
type relay struct {
	maxEnvelope, mailboxCap, window, maxInFlight, lowWater int
	ttl, writeTimeout, recheck, fallbackPoll               time.Duration
	auditRetention                                         time.Duration
	registration                                           RegistrationMode
	trustedProxies                                         []netip.Prefix
	proxyProtocol                                          bool
	tokenKey                                               ed25519.PublicKey
	now                                                    func() time.Time
	log                                                    *slog.Logger
	ready                                                  http.Handler // Server.ReadyHandler

	store      store.Store
	fan        fanout.Fanout
	tls        *tls.Config
	http       *http.Server
	metrics    *metrics
	challenges *challenger
	challengeL *limiter
	registerL  *limiter
	bundleL    *limiter
	deviceL    *limiter
	requestL   *limiter
	conns      *connSet
	blobs      *blobRelay
	wss        *wsconn.Server

	unlock      unlock.Policy  // the relay PIN factor's counter (unlock.go)
	unlockL     *limiter       // unlock requests per client network
	unlockCredL *limiter       // unlock requests per credential
	push        *push.Notifier // nil without a push gateway (push.go)

	ctx    context.Context // ends at shutdown
	cancel context.CancelFunc
	bg     sync.WaitGroup // sweeper, recheck loop
}

func newRelay(ctx context.Context, s *Server) (*relay, error) {
	r := &relay{
		maxEnvelope:    orInt(s.MaxEnvelope, wire.DefaultMaxEnvelope),
		mailboxCap:     orInt(s.MailboxCap, DefaultMailboxCap),
		window:         orInt(s.Window, DefaultWindow),
		maxInFlight:    orInt(s.MaxInFlight, DefaultMaxInFlight),
		lowWater:       orInt(s.PreKeyLowWater, DefaultPreKeyLowWater),
		ttl:            orDuration(s.MailboxTTL, DefaultMailboxTTL),
		auditRetention: s.AuditRetention,
		writeTimeout:   orDuration(s.WriteTimeout, DefaultWriteTimeout),
		recheck:        orDuration(s.RecheckInterval, DefaultRecheckInterval),
		fallbackPoll:   orDuration(s.FallbackPoll, DefaultFallbackPoll),
		registration:   s.Registration,
		trustedProxies: slices.Clone(s.TrustedProxies),
		proxyProtocol:  s.ProxyProtocol,
		tokenKey:       s.TokenKey,
		now:            s.Now,
		log:            s.Logger,
		metrics:        newMetrics(),
		ready:          s.ReadyHandler(),
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if err := r.check(s); err != nil {
		return nil, err
	}
	r.challengeL = newLimiter(s.ChallengeRate.orDefault(DefaultChallengeRate), r.now)
	r.registerL = newLimiter(s.RegisterRate.orDefault(DefaultRegisterRate), r.now)
	r.bundleL = newLimiter(s.BundleRate.orDefault(DefaultBundleRate), r.now)
	r.deviceL = newLimiter(s.DeviceRate.orDefault(DefaultDeviceRate), r.now)
	r.requestL = newLimiter(s.RequestRate.orDefault(DefaultRequestRate), r.now)
	r.unlock = unlock.Policy{MaxFailures: s.UnlockMaxFailures, Grace: unlock.DefaultGrace}
	r.unlockL = newLimiter(s.UnlockRate.orDefault(DefaultUnlockRate), r.now)
	r.unlockCredL = newLimiter(s.UnlockCredentialRate.orDefault(DefaultUnlockCredentialRate), r.now)
	r.conns = newConnSet(orInt(s.MaxDeviceConns, DefaultMaxDeviceConns), orInt(s.MaxConns, DefaultMaxConns))
	r.metrics.maxConns, r.metrics.maxDeviceConns = int64(r.conns.max), int64(r.conns.maxPerDevice)
	r.tls = relayTLS(s.TLSConfig)
	if err := r.openStore(ctx, s); err != nil {
		return nil, err
	}
	ttl := max(orDuration(s.ChallengeTTL, DefaultChallengeTTL), time.Second)
	var err error
	if r.challenges, err = newChallenger(ctx, r.store, ttl, r.now); err != nil {
		r.store.Close()
		return nil, fmt.Errorf("server: challenge key: %w", err)
	}
	if err := r.openBlobs(ctx, s); err != nil {
		r.store.Close()
		return nil, err
	}
	fan, err := r.newFanout(s)
	if err != nil {
		r.blobs.store.Close()
		r.store.Close()
		return nil, err
	}
	r.fan = fan
	if err := r.openPush(s); err != nil {
		r.fan.Close()
		r.blobs.store.Close()
		r.store.Close()
		return nil, err
	}
	r.metrics.fanoutUp = r.fanoutUp
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.wss = wsconn.NewServer(wsconn.Options{
		MaxMessage:   r.maxEnvelope + wire.MaxOverhead,
		WriteTimeout: r.writeTimeout,
		CloseGrace:   closeGrace,
		Linger:       readLinger,
	})
	r.http = r.newHTTPServer()
	r.bg.Add(1)
	go r.sweepLoop(orDuration(s.SweepInterval, DefaultSweepInterval))
	if h, ok := r.fan.(healthReporter); ok {
		r.bg.Add(1)
		go r.degradedLoop(h)
	}
	r.bg.Go(func() { r.conns.recheckLoop(r.ctx, r.recheck) })
	return r, nil
}

func (r *relay) check(s *Server) error {
	switch {
	case s.TLSConfig == nil:
		return errors.New("server: no TLSConfig (use DevTLS for development)")
	case s.DataDir == "" && s.StoreDSN == "":
		return errors.New("server: no DataDir or StoreDSN")
	case r.registration == "":
		r.registration = RegisterOpen
	case r.registration != RegisterOpen && r.registration != RegisterToken:
		return fmt.Errorf("server: registration mode %q: want %q or %q", r.registration, RegisterOpen, RegisterToken)
	}
	if r.registration == RegisterToken && len(r.tokenKey) != ed25519.PublicKeySize {
		return errors.New("server: token registration needs an Ed25519 TokenKey")
	}
	if r.proxyProtocol && len(r.trustedProxies) == 0 {
		return errors.New("server: ProxyProtocol needs TrustedProxies: a PROXY header is believed only from them")
	}
	if r.maxEnvelope < 1 || r.maxEnvelope > store.MaxPayloadLen {
		return fmt.Errorf("server: MaxEnvelope %d not in 1..%d", r.maxEnvelope, store.MaxPayloadLen)
	}
	if s.UnlockMaxFailures < 0 || s.UnlockMaxFailures > unlock.MaxMaxFailures {
		return fmt.Errorf("server: UnlockMaxFailures %d not in 1..%d", s.UnlockMaxFailures, unlock.MaxMaxFailures)
	}
	if r.window > wire.MaxAckBatch || r.maxInFlight > 1<<15 {
		return fmt.Errorf("server: Window at most %d, MaxInFlight at most %d", wire.MaxAckBatch, 1<<15)
	}
	return nil
}

func (r *relay) openStore(ctx context.Context, s *Server) error {
	if err := s.prepareDataDir(); err != nil {
		return err
	}
	st, err := store.Open(ctx, s.storeDSN(), store.Options{
		MailboxCap:         r.mailboxCap,
		TTL:                r.ttl,
		NoticeTTL:          r.ttl,
		Now:                r.now,
		Logger:             r.log,
		NoMigrate:          s.NoMigrate,
		Writers:            s.StoreWriters,
		CheckpointInterval: s.CheckpointInterval,
	})
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	r.store = &meteredStore{Store: st, m: r.metrics}
	return nil
}

// HTTP server timeouts. WebSocket connections clear the deadlines once
// upgraded.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 16 << 10
)

func (r *relay) newHTTPServer() *http.Server {
	return &http.Server{
		Handler:           r.routes(),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          log.New(debugWriter{r.log}, "", 0),
		BaseContext:       func(net.Listener) context.Context { return r.ctx },
	}
}

// debugWriter sends net/http's own messages (TLS handshake failures and
// the like) to the logger at debug level.
type debugWriter struct{ log *slog.Logger }

func (d debugWriter) Write(p []byte) (int, error) {
	d.log.Debug(strings.TrimSpace(string(p)))
	return len(p), nil
}

func (r *relay) shutdown(ctx context.Context) error {
	err := r.http.Shutdown(ctx)
	r.conns.closeAll(ctx)
	r.wss.Close()
	r.cancel()
	r.bg.Wait()
	r.closePush()
	r.fan.Close()
	if cerr := r.store.Close(); err == nil {
		err = cerr
	}
	if cerr := r.blobs.store.Close(); err == nil {
		err = cerr
	}
	return err
}

// closeGrace bounds the wait for a client's answer to a close frame.
const closeGrace = time.Second

// readLinger is how long a connection's reader waits for more once it has
// read everything, before the connection goes back to epoll (see
// wsconn.Options.Linger): a connection busy at least every readLinger
// keeps a reader goroutine; an idle one has none. A second measured
// better throughput at 256 senders, but about 0.8 kB more per idle
// connection afterwards (heap left fragmented by the lingering stacks).
const readLinger = 100 * time.Millisecond

func orInt(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

func orDuration(v, def time.Duration) time.Duration {
	if v <= 0 {
		return def
	}
	return v
}
