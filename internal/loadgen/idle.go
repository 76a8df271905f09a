package loadgen

import (
	"context"
	"fmt"
	"sync"

	"github.com/coder/websocket"

	"parley.dev/internal/addr"
)

// idleSet is the idle connections of a run.
type idleSet struct {
	es    []*endpoint
	mu    sync.Mutex
	conns []*websocket.Conn
	wg    sync.WaitGroup
}

// holdIdle opens Config.Idle idle connections, each by a device of its
// own, spread over the nodes, and records the relay's resident memory before and after in res.
func (r *run) holdIdle(ctx context.Context, m *scraper, res *Result) (*idleSet, error) {
	if r.cfg.Idle == 0 {
		return &idleSet{}, nil
	}
	es, err := newEndpoints(r.cfg.Target)
	if err != nil {
		return nil, err
	}
	s := &idleSet{es: es}
	r.setPhase("idle")
	before := m.scrape(ctx)
	prefix := userPrefix() + "-i"
	err = Parallel(ctx, r.cfg.Idle, setupWorkers, func(ctx context.Context, i int) error {
		e := es[i%len(es)]
		d, err := e.register(ctx, addr.UserID(fmt.Sprintf("%s%d", prefix, i)))
		if err != nil {
			return err
		}
		ws, _, err := e.dial(ctx, d, e.source(i))
		if err != nil {
			return fmt.Errorf("idle connection %d: %w", i, err)
		}
		s.add(ws)
		r.ready.Add(1)
		return nil
	})
	if err != nil {
		s.close()
		return nil, err
	}
	after := m.scrape(ctx)
	res.Idle = r.cfg.Idle
	if before.err == nil && after.err == nil {
		if _, ok := after.series[seriesRSS]; ok {
			grew := delta(before, after, seriesRSS)
			res.Relay = &RelayFigures{IdleRSSPerConn: grew / float64(r.cfg.Idle)}
		}
	}
	return s, nil
}

// add keeps ws open, reading (and dropping) whatever the relay sends, so
// that pings and closes are answered.
func (s *idleSet) add(ws *websocket.Conn) {
	s.mu.Lock()
	s.conns = append(s.conns, ws)
	s.mu.Unlock()
	s.wg.Go(func() {
		for {
			if _, _, err := ws.Read(context.Background()); err != nil {
				return
			}
		}
	})
}

func (s *idleSet) close() {
	s.mu.Lock()
	conns := s.conns
	s.conns = nil
	s.mu.Unlock()
	for _, ws := range conns {
		ws.CloseNow()
	}
	s.wg.Wait()
	for _, e := range s.es {
		e.close()
	}
}

// Parallel runs f(ctx, i) for i in [0, n) on at most workers goroutines
// and returns the first error; the calls still running then see ctx end.
// Drivers use it to set devices up.
func Parallel(ctx context.Context, n, workers int, f func(context.Context, int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for i := range next {
				if err := f(ctx, i); err != nil {
					cancel(err)
				}
			}
		})
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	return context.Cause(ctx)
}
