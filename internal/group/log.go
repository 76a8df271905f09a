package group

import (
	"errors"
	"fmt"
	"slices"

	"parley.dev/internal/addr"
)

// Log is one device's view of a group's history: the current state (the
// head), a window of up to MaxKeptStates recent states, and changes that
// wait for the ones before them. It is not safe for concurrent use. Make
// one with NewLog, Join or UnmarshalLog.
//
// Receive decides what a change does:
//   - one that follows the head, signed as the head allows: applied;
//   - one already applied (same digest, or same resulting state):
//     ErrDuplicate, nothing changes;
//   - one for a later epoch whose parent is unknown: kept until its
//     parent arrives (at most MaxPendingChanges);
//   - a concurrent one, a sibling of the head (same epoch, same parent):
//     the one whose resulting state hash is lower wins, so every device
//     that sees both ends on the same state; the loser is reported, and
//     its state kept so that messages sent in it can still be read;
//   - one for an epoch the window no longer holds: ErrRollback;
//   - one that names an unknown state or an epoch the head has passed,
//     or builds on a losing sibling: ErrFork or ErrConflict.
type Log struct {
	base       *State
	baseChange *Change   // the create, when base is the genesis state
	changes    []*Change // applied after base, in order, each to its Prev
	states     map[Hash]*State
	producer   map[Hash]*Change // state hash -> the change that led to it
	digests    map[Hash]bool    // digests of the changes held
	head       *State
	pending    []*Change // oldest first
}

// Result is what Receive did.
type Result struct {
	// Applied lists the changes that moved the head, in order: the one
	// received and any waiting ones it unblocked.
	Applied []*Change
	// Lost is the change that lost a conflict the received one won (the
	// head it replaced came from it).
	Lost *Change
	// Refused lists waiting changes that turned out invalid once their
	// parent arrived, with why.
	Refused []Refused
	// Pending reports that the received change waits for earlier ones.
	Pending bool
}

// Refused is a change that was not applied, and why.
type Refused struct {
	Change *Change
	Err    error
}

// NewLog starts a log at a group's first state, made by the create c
// (Genesis).
func NewLog(c *Change) (*Log, error) {
	st, err := Genesis(c)
	if err != nil {
		return nil, err
	}
	l := newLog(st)
	l.baseChange = c
	l.producer[st.hash] = c
	l.digests[c.digest] = true
	return l, nil
}

// Join starts a log from a welcome.
func Join(w *Welcome) (*Log, error) {
	st, err := w.Verify()
	if err != nil {
		return nil, err
	}
	if w.base == nil {
		l := newLog(st)
		l.baseChange = w.change
		l.producer[st.hash] = w.change
		l.digests[w.change.digest] = true
		return l, nil
	}
	l := newLog(w.base)
	l.add(w.change, st)
	l.head = st
	return l, nil
}

func newLog(base *State) *Log {
	return &Log{base: base, head: base, states: map[Hash]*State{base.hash: base},
		producer: map[Hash]*Change{}, digests: map[Hash]bool{}}
}

// add records c, which led to st.
func (l *Log) add(c *Change, st *State) {
	l.changes = append(l.changes, c)
	l.states[st.hash] = st
	l.producer[st.hash] = c
	l.digests[c.digest] = true
}

// ID returns the group's ID.
func (l *Log) ID() ID { return l.base.id }

// Head returns the current state.
func (l *Log) Head() *State { return l.head }

// State returns the kept state with epoch e and hash h.
func (l *Log) State(e uint64, h Hash) (*State, bool) {
	st, ok := l.states[h]
	return st, ok && st.epoch == e
}

// Oldest returns the epoch of the oldest state kept.
func (l *Log) Oldest() uint64 { return l.base.epoch }

// Welcome returns the welcome into the head: its parent and the change
// that led to it (the create at epoch 0).
func (l *Log) Welcome() (*Welcome, error) {
	c := l.producer[l.head.hash]
	if c == nil {
		return nil, errors.New("group: the change that led to the head is not kept")
	}
	if c.kind == KindCreate {
		return NewWelcome(nil, c), nil
	}
	return NewWelcome(l.states[c.prev], c), nil
}

// Receive applies c if it follows a state this log holds, as described on
// Log. It returns ErrDuplicate, ErrRollback, ErrFork, ErrConflict, or the
// errors of State.Apply; any error leaves the log unchanged.
func (l *Log) Receive(c *Change) (Result, error) {
	var r Result
	if err := l.receive(c, &r); err != nil {
		return Result{}, err
	}
	if len(r.Applied) > 0 {
		l.drain(&r)
		l.trim()
	}
	return r, nil
}

func (l *Log) receive(c *Change, r *Result) error {
	switch {
	case c.group != l.base.id:
		return fmt.Errorf("%w: change of group %s, this log is %s", ErrInvalidChange, c.group, l.base.id)
	case l.digests[c.digest]:
		return ErrDuplicate
	case c.kind == KindCreate && l.base.epoch == 0:
		return fmt.Errorf("%w: a second create of this group", ErrFork)
	case c.kind == KindCreate:
		return fmt.Errorf("%w: a create, older than every state held", ErrRollback)
	}
	parent := l.states[c.prev]
	if parent == nil {
		return l.orphan(c, r)
	}
	next, err := parent.Apply(c)
	if err != nil {
		return err
	}
	if _, ok := l.states[next.hash]; ok {
		return ErrDuplicate // an equivalent change already led there
	}
	switch {
	case parent == l.head:
		l.add(c, next)
		l.head = next
		r.Applied = append(r.Applied, c)
		return nil
	case next.epoch == l.head.epoch && l.head.prev == parent.hash:
		return l.conflict(c, next, r)
	case next.epoch > l.head.epoch:
		return fmt.Errorf("%w: change builds on a state that lost a conflict", ErrConflict)
	}
	return fmt.Errorf("%w: change for epoch %d, which this device has passed", ErrFork, c.epoch)
}

// orphan handles a change whose parent is not held.
func (l *Log) orphan(c *Change, r *Result) error {
	switch {
	case c.epoch <= l.base.epoch:
		return fmt.Errorf("%w: change for epoch %d, older than every state held", ErrRollback, c.epoch)
	case c.epoch <= l.head.epoch:
		return fmt.Errorf("%w: change for epoch %d names a state this device never held", ErrFork, c.epoch)
	}
	for _, p := range l.pending {
		if p.digest == c.digest {
			return ErrDuplicate
		}
	}
	if len(l.pending) == MaxPendingChanges {
		l.pending = l.pending[1:]
	}
	l.pending = append(l.pending, c)
	r.Pending = true
	return nil
}

// conflict resolves two changes of the same epoch and parent: c (leading
// to next) and the one that led to the head. The lower state hash wins.
//
// The losing state is kept, so that messages sent in it can still be
// read, unless the epoch has maxSiblings states already: a misbehaving
// admin cannot make a device keep an unbounded number of them.
func (l *Log) conflict(c *Change, next *State, r *Result) error {
	full := l.siblings(next.epoch) >= maxSiblings
	if l.head.hash.Less(next.hash) {
		if !full {
			l.add(c, next)
		}
		return fmt.Errorf("%w: another change of epoch %d won", ErrConflict, c.epoch)
	}
	lost := l.producer[l.head.hash]
	if full {
		l.forget(l.head)
	}
	l.add(c, next)
	r.Lost = lost
	l.head = next
	r.Applied = append(r.Applied, c)
	return nil
}

// maxSiblings is how many states of one epoch a log keeps.
const maxSiblings = 4

func (l *Log) siblings(epoch uint64) int {
	n := 0
	for _, st := range l.states {
		if st.epoch == epoch {
			n++
		}
	}
	return n
}

// forget drops st, a leaf state, and the change that led to it.
func (l *Log) forget(st *State) {
	c := l.producer[st.hash]
	delete(l.states, st.hash)
	delete(l.producer, st.hash)
	delete(l.digests, c.digest)
	l.changes = slices.DeleteFunc(l.changes, func(x *Change) bool { return x == c })
}

// drain applies waiting changes that now follow the head.
func (l *Log) drain(r *Result) {
	for progress := true; progress; {
		progress = false
		for i, c := range l.pending {
			if l.states[c.prev] == nil && c.epoch > l.head.epoch {
				continue
			}
			l.pending = slices.Delete(l.pending, i, i+1)
			progress = true
			if err := l.receive(c, r); err != nil && !errors.Is(err, ErrDuplicate) {
				r.Refused = append(r.Refused, Refused{Change: c, Err: err})
			}
			break
		}
	}
}

// trim keeps at most MaxKeptStates epochs, moving the base along the
// head's ancestors and dropping whatever hangs off older states.
func (l *Log) trim() {
	for l.head.epoch-l.base.epoch >= MaxKeptStates {
		nb := l.ancestor(l.base.epoch + 1)
		keep := map[Hash]*State{nb.hash: nb}
		var changes []*Change
		for _, c := range l.changes {
			st := l.stateOf(c)
			if st != nil && st.epoch > nb.epoch && keep[c.prev] != nil {
				keep[st.hash] = st
				changes = append(changes, c)
			}
		}
		l.base, l.baseChange, l.states, l.changes = nb, nil, keep, changes
		l.reindex()
	}
}

// stateOf returns the state c led to.
func (l *Log) stateOf(c *Change) *State {
	for h, p := range l.producer {
		if p == c {
			return l.states[h]
		}
	}
	return nil
}

func (l *Log) reindex() {
	producer, digests := map[Hash]*Change{}, map[Hash]bool{}
	for h, c := range l.producer {
		if l.states[h] != nil && (h != l.base.hash || l.baseChange != nil) {
			producer[h] = c
			digests[c.digest] = true
		}
	}
	l.producer, l.digests = producer, digests
}

// ancestor returns the head's ancestor at epoch e (≥ the base's).
func (l *Log) ancestor(e uint64) *State {
	st := l.head
	for st.epoch > e {
		st = l.states[st.prev]
	}
	return st
}

// IsMember reports whether u is a member at the head.
func (l *Log) IsMember(u addr.UserID) bool { return l.head.IsMember(u) }

// ReceiveWelcome handles a welcome into a group this log already holds,
// for the device of user self. It returns the log to keep from now on: l,
// or a new one when self was no longer a member and is added again. A
// welcome into a state held already is ErrDuplicate, one into an epoch
// not after the head's ErrRollback; one whose base this log holds is its
// change; and for a member that missed changes, its change waits for
// them. A welcome back into the group after self left or was removed
// cannot be checked against the history self missed, so it is accepted
// only if its signer is an admin, under the same identity, in the last
// state self holds: anyone else could make up a history under the group's
// ID (ErrUnauthorized).
func (l *Log) ReceiveWelcome(w *Welcome, self addr.UserID) (*Log, Result, error) {
	if w.change.group != l.ID() {
		return l, Result{}, fmt.Errorf("%w: welcome into group %s, this log is %s", ErrInvalidChange, w.change.group, l.ID())
	}
	st, err := w.Verify()
	if err != nil {
		return l, Result{}, err
	}
	switch {
	case l.digests[w.change.digest] || l.states[st.hash] != nil:
		return l, Result{}, ErrDuplicate
	case st.epoch <= l.head.epoch:
		return l, Result{}, fmt.Errorf("%w: welcome into epoch %d, this device holds epoch %d", ErrRollback, st.epoch, l.head.epoch)
	case w.base != nil && l.states[w.base.hash] != nil, l.head.IsMember(self):
		r, err := l.Receive(w.change)
		return l, r, err
	}
	signer, _ := w.base.Member(w.change.signer) // Verify checked it is there
	known, ok := l.head.Member(w.change.signer)
	if !ok || known.Role != RoleAdmin || !known.Identity.Equal(signer.Identity) {
		return l, Result{}, fmt.Errorf("%w: a welcome back from %s, who was not an admin when this device left", ErrUnauthorized, w.change.signer)
	}
	nl, err := Join(w)
	if err != nil {
		return l, Result{}, err
	}
	return nl, Result{Applied: []*Change{w.change}}, nil
}
