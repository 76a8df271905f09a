package loadgen

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Config's fields.
const (
	DefaultSenders  = 16
	DefaultPayload  = 1024
	DefaultDuration = 10 * time.Second
	DefaultDrain    = 10 * time.Second
	// maxOutstanding bounds a sender's messages awaiting their
	// SubmitResult in the open loop. A sender that reaches it waits, and
	// the messages behind it become late: their lateness is measured.
	maxOutstanding = 1024
	// setupWorkers is how many devices are registered and connected at
	// once: enough for the relay to group-commit the registrations.
	setupWorkers = 64
	// progressEvery is the progress callback's period.
	progressEvery = time.Second
)

// Config describes one run. The zero value of each field but Target takes
// the default named beside it.
type Config struct {
	Target Target
	// Senders is the number of sender→receiver pairs (DefaultSenders).
	Senders int
	// Rate is the open loop's total send rate in messages per second,
	// spread evenly over the senders; 0 runs the closed loop, where each
	// sender waits for its SubmitResult before sending again.
	Rate float64
	// Payload is each message's size in bytes (DefaultPayload): the
	// envelope's (raw) or the text's (e2ee). At least StampLen.
	Payload int
	// Duration is how long messages are scheduled (DefaultDuration).
	Duration time.Duration
	// Drain is how long, after Duration, late messages may still be sent
	// and outstanding ones answered and delivered (DefaultDrain).
	Drain time.Duration
	// Idle is the number of extra connections held open, idle, by
	// devices of their own (raw protocol in every mode), from source
	// addresses spread over 127.0.0.2-254 when the relay is on loopback.
	Idle int
	// Progress, if set, is called about once a second from one goroutine.
	Progress func(Progress)
}

func (c *Config) withDefaults() error {
	c.Senders = orDefault(c.Senders, DefaultSenders)
	c.Payload = orDefault(c.Payload, DefaultPayload)
	c.Duration = orDefault(c.Duration, DefaultDuration)
	c.Drain = orDefault(c.Drain, DefaultDrain)
	switch {
	case c.Senders < 0 || c.Payload < 0 || c.Duration < 0 || c.Drain < 0 || c.Idle < 0 || c.Rate < 0:
		return errors.New("loadgen: negative setting")
	case c.Payload < StampLen:
		return fmt.Errorf("loadgen: payload of %d bytes: at least %d carry the stamp", c.Payload, StampLen)
	case c.Rate > 0 && c.Rate*c.Duration.Seconds() >= maxSeq:
		return fmt.Errorf("loadgen: %g messages/s for %v is too many messages", c.Rate, c.Duration)
	}
	return nil
}

func orDefault[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// Progress is a snapshot of a run for a progress line.
type Progress struct {
	Phase                          string        // "setup", "idle", "run" or "drain"
	Elapsed                        time.Duration // since the phase (run and drain: the run) began
	Duration                       time.Duration // the run's schedule
	Ready                          int64         // devices and idle connections set up
	Sent, Acked, Delivered, Errors int64
	// P99Ack is the submit→ack 99th percentile so far.
	P99Ack time.Duration
}

// run is the state of one Run.
type run struct {
	cfg     Config
	drv     Driver
	start   time.Time   // t=0 of the schedule
	running atomic.Bool // start is set
	// cutOff: the load's deadline passed or the run was interrupted; the
	// sends then cut off close their connections, which is no failure of
	// the relay's.
	cutOff atomic.Bool

	counts     counts
	ready      atomic.Int64
	ackLat     *latency
	deliverLat *latency
	seen       *deliveredSet
	lastEvent  atomic.Int64 // ns since start of the last ack or delivery

	phaseMu    sync.Mutex
	phase      string
	phaseStart time.Time
}

// Run sets up the devices, runs the load and reports. The relay's metrics
// are read before and after; if they cannot be, the Result says why and
// the run still counts. ctx ending during setup returns ctx's error;
// during the run, it ends the run and the Result (Interrupted) covers the
// part that ran.
func Run(ctx context.Context, cfg Config, drv Driver) (*Result, error) {
	if err := cfg.withDefaults(); err != nil {
		return nil, err
	}
	r := &run{cfg: cfg, drv: drv, ackLat: newLatency(), deliverLat: newLatency(), seen: newDeliveredSet(cfg.Senders)}
	stop := r.startProgress()
	defer stop()
	defer drv.Close()
	m, err := newScraper(cfg.Target)
	if err != nil {
		return nil, err
	}
	res := &Result{}
	senders, idle, err := r.setup(ctx, m, res)
	if err != nil {
		return nil, err
	}
	defer idle.close()
	r.measure(ctx, m, senders, res)
	return res, nil
}

// setup readies the pairs and the idle connections.
func (r *run) setup(ctx context.Context, m *scraper, res *Result) ([]Sender, *idleSet, error) {
	start := time.Now()
	r.setPhase("setup")
	senders, err := r.drv.Setup(ctx, r.cfg.Senders, r.cfg.Payload, &Sink{r})
	if err != nil {
		return nil, nil, fmt.Errorf("setup: %w", err)
	}
	idle, err := r.holdIdle(ctx, m, res)
	if err != nil {
		return nil, nil, err
	}
	res.Setup = time.Since(start)
	return senders, idle, nil
}

// measure runs the load between two scrapes of the relay's metrics and
// fills in res.
func (r *run) measure(ctx context.Context, m *scraper, senders []Sender, res *Result) {
	before, cpuBefore := m.scrape(ctx), processCPU()
	r.start = time.Now() // before the phase: progress reads it once the phase is "run"
	r.running.Store(true)
	r.setPhase("run")
	r.load(ctx, senders)
	if ctx.Err() == nil {
		r.waitDelivered(ctx)
		settleCtx, cancel := context.WithTimeout(ctx, r.cfg.Drain)
		r.drv.Settle(settleCtx)
		cancel()
	} else {
		// Interrupted: report the part that ran (its last sends were cut
		// off and count as timeouts).
		res.Interrupted = true
		ctx = context.WithoutCancel(ctx)
	}
	elapsed := r.elapsed()
	after := m.settled(ctx, before, r.counts.delivered.Load())
	cpuAfter := processCPU()
	r.fill(res, elapsed)
	if cpuBefore >= 0 && cpuAfter >= 0 {
		res.ClientCPU = cpuAfter - cpuBefore
		res.ClientCPUCores = res.ClientCPU.Seconds() / after.at.Sub(before.at).Seconds()
	}
	res.Relay, res.RelayError = relayFigures(before, after, res.Relay)
}

func (r *run) setPhase(p string) {
	r.phaseMu.Lock()
	r.phase, r.phaseStart = p, time.Now()
	r.phaseMu.Unlock()
}

// load runs the senders until Duration (closed loop) or until every
// scheduled message was sent and answered (open loop), and at most until
// Duration + Drain.
func (r *run) load(ctx context.Context, senders []Sender) {
	ctx, cancel := context.WithDeadline(ctx, r.start.Add(r.cfg.Duration+r.cfg.Drain))
	defer cancel()
	stop := context.AfterFunc(ctx, func() { r.cutOff.Store(true) })
	defer stop()
	var wg sync.WaitGroup
	for i, s := range senders {
		if r.cfg.Rate > 0 {
			wg.Go(func() { r.openLoop(ctx, i, s) })
		} else {
			wg.Go(func() { r.closedLoop(ctx, i, s) })
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(r.cfg.Duration):
		r.setPhase("drain")
		<-done
	}
}

// closedLoop sends one message at a time; each latency runs from its own
// send.
func (r *run) closedLoop(ctx context.Context, pair int, s Sender) {
	for seq := uint64(0); ; seq++ {
		at := time.Since(r.start)
		if at >= r.cfg.Duration || ctx.Err() != nil {
			return
		}
		r.send(ctx, s, Stamp{Pair: pair, Seq: seq, Sched: at})
	}
}

// openLoop sends on a fixed schedule: over all pairs, message n is due
// at n/Rate, and pair p sends messages p, p+Senders, p+2×Senders ...,
// whether or not earlier ones were answered. A late message is sent as
// soon as possible and its latency still runs from its due time.
func (r *run) openLoop(ctx context.Context, pair int, s Sender) {
	slots := make(chan struct{}, maxOutstanding)
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for seq := uint64(0); ; seq++ {
		due, ok := r.due(pair, seq)
		if !ok {
			return
		}
		if wait := due - time.Since(r.start); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
			}
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			r.unsent(pair, seq)
			return
		}
		st := Stamp{Pair: pair, Seq: seq, Sched: due}
		wg.Go(func() {
			defer func() { <-slots }()
			r.send(ctx, s, st)
		})
	}
}

// due is when the open loop sends pair's message seq, and whether that
// is within the schedule.
func (r *run) due(pair int, seq uint64) (time.Duration, bool) {
	n := float64(seq)*float64(r.cfg.Senders) + float64(pair)
	d := time.Duration(n / r.cfg.Rate * float64(time.Second))
	return d, d < r.cfg.Duration
}

// unsent counts pair's scheduled messages from seq on, never sent.
func (r *run) unsent(pair int, seq uint64) {
	for ; ; seq++ {
		if _, ok := r.due(pair, seq); !ok {
			return
		}
		r.counts.fail(CodeUnsent)
	}
}

// send submits one message and records its submit→ack latency.
func (r *run) send(ctx context.Context, s Sender, st Stamp) {
	r.counts.sent.Add(1)
	err := s.Send(ctx, st)
	if err != nil {
		r.counts.fail(ErrorCode(err))
		return
	}
	now := time.Since(r.start)
	r.counts.acked.Add(1)
	r.ackLat.record(now - st.Sched)
	r.touch(now)
}

// delivered records one delivery's submit→deliver latency.
func (r *run) delivered(st Stamp) {
	if !r.running.Load() {
		return // a setup message
	}
	now := time.Since(r.start)
	if !r.seen.add(st.Pair, st.Seq) {
		r.counts.duplicates.Add(1)
		return
	}
	r.counts.delivered.Add(1)
	r.deliverLat.record(now - st.Sched)
	r.touch(now)
}

// touch remembers the latest ack or delivery, the end of the run's work.
func (r *run) touch(now time.Duration) {
	for {
		last := r.lastEvent.Load()
		if int64(now) <= last || r.lastEvent.CompareAndSwap(last, int64(now)) {
			return
		}
	}
}

// elapsed is the time from the schedule's start to the last ack or
// delivery (the schedule's length if nothing arrived).
func (r *run) elapsed() time.Duration {
	return max(time.Duration(r.lastEvent.Load()), min(r.cfg.Duration, time.Since(r.start)))
}

// waitDelivered waits, until the drain deadline, for every acknowledged
// message to reach its receiver; the rest count as undelivered.
func (r *run) waitDelivered(ctx context.Context) {
	deadline := r.start.Add(r.cfg.Duration + r.cfg.Drain)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for r.counts.delivered.Load() < r.counts.acked.Load() && time.Now().Before(deadline) {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
	for range r.counts.acked.Load() - r.counts.delivered.Load() {
		r.counts.fail(CodeUndelivered)
	}
}

// startProgress calls Config.Progress every progressEvery until stopped.
func (r *run) startProgress() (stop func()) {
	if r.cfg.Progress == nil {
		return func() {}
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				r.cfg.Progress(r.progress())
			}
		}
	}()
	return func() { close(quit); <-done }
}

func (r *run) progress() Progress {
	r.phaseMu.Lock()
	p := Progress{Phase: r.phase, Elapsed: time.Since(r.phaseStart), Duration: r.cfg.Duration}
	r.phaseMu.Unlock()
	if p.Phase == "run" || p.Phase == "drain" {
		p.Elapsed = time.Since(r.start)
	}
	p.Ready = r.ready.Load()
	p.Sent, p.Acked = r.counts.sent.Load(), r.counts.acked.Load()
	p.Delivered, p.Errors = r.counts.delivered.Load(), r.counts.failed.Load()
	p.P99Ack = r.ackLat.percentiles().P99
	return p
}
