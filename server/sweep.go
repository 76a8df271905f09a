package server

import (
	"time"

	"parley.dev/internal/addr"
	"parley.dev/internal/fanout"
	"parley.dev/internal/store"
)

// maxSweepRounds bounds one sweep; the next tick continues.
const maxSweepRounds = 100

// sweepLoop periodically expires undelivered envelopes and forgets used
// challenges that expired and idle rate-limit buckets.
func (r *relay) sweepLoop(every time.Duration) {
	defer r.bg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
			r.sweep()
		}
	}
}

func (r *relay) sweep() {
	r.purgeChallenges()
	r.challengeL.prune()
	r.registerL.prune()
	r.bundleL.prune()
	r.sweepBlobs()
	r.deviceL.prune()
	r.requestL.prune()
	r.sweepUnlock()
	r.pruneAudit()
	for range maxSweepRounds {
		expired, err := r.store.Expire(r.ctx, r.now(), store.MaxBatch)
		if err != nil {
			if r.ctx.Err() == nil {
				r.log.Error("expire", "err", err)
			}
			return
		}
		if len(expired) == 0 {
			return
		}
		r.notifyExpired(expired)
	}
}

// notifyExpired counts what expired and wakes each sender: the store has
// queued a notice listing the expired message IDs in its mailbox.
func (r *relay) notifyExpired(expired []store.Expired) {
	senders := make(map[addr.Address]bool)
	for _, e := range expired {
		r.metrics.expired.Add(int64(len(e.IDs)))
		senders[e.From] = true
	}
	for a := range senders {
		r.publish(a, fanout.Mail)
	}
	r.log.Info("envelopes expired", "pairs", len(expired), "senders", len(senders))
}

// purgeChallenges forgets used challenges that have expired: an expired
// challenge is refused before the store is asked, so its record serves
// nothing. Every node sweeps; the deletes are idempotent.
func (r *relay) purgeChallenges() {
	for range maxSweepRounds {
		n, err := r.store.PurgeChallenges(r.ctx, r.now(), store.MaxBatch)
		if err != nil {
			if r.ctx.Err() == nil {
				r.log.Error("purge challenges", "err", err)
			}
			return
		}
		if n < store.MaxBatch {
			return
		}
	}
}

// pruneAudit removes audit entries older than the retention; the store
// appends an entry for each prune, so that the chain still verifies and
// shows where it now starts. Every node sweeps; prunes are serialized by
// the store.
func (r *relay) pruneAudit() {
	if r.auditRetention <= 0 {
		return
	}
	before := r.now().Add(-r.auditRetention)
	for range maxSweepRounds {
		n, err := r.store.PruneAudit(r.ctx, before, store.MaxBatch)
		if err != nil {
			if r.ctx.Err() == nil {
				r.log.Error("prune audit log", "err", err)
			}
			return
		}
		if n > 0 {
			r.log.Info("audit entries pruned", "entries", n, "before", before)
		}
		if n < store.MaxBatch {
			return
		}
	}
}
