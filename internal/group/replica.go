package group

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"parley.dev/internal/addr"
)

// Replica is one device's copy of one group: its Log, its own sending
// chain and the devices that hold it, the receiving chains of the other
// devices, and what waits for a change or a chain. It is pure: the caller
// carries changes, distributions and messages, and persists the parts
// that Dirty returns after every call that succeeded. It holds secrets,
// prints as REDACTED and is not safe for concurrent use.
//
// Messages and distributions that name a state this device does not hold
// yet, and messages whose chain has not arrived, wait (at most
// MaxPendingMessages and MaxPendingDistributions, oldest dropped) and are
// opened as soon as what they need arrives: the relay may deliver a
// group's messages before the change or the distribution they need.
type Replica struct {
	self    addr.Address
	log     *Log
	own     *SenderChain
	holders map[addr.Address]bool // devices given the own chain
	chains  map[addr.Address][]*ReceiverChain
	waiting []waitingMessage // oldest first
	dists   []waitingDist    // oldest first
	nextSeq uint64           // arrival number of the next waiting message
	dirty   map[string]bool
}

type waitingMessage struct {
	seq uint64
	m   *Message
}

type waitingDist struct {
	from addr.Address
	d    *Distribution
}

// Update is what a Replica call did.
type Update struct {
	// Result is what a change (or welcome) did to the log.
	Result Result
	// Opened lists the messages that could be read: the one received and
	// any waiting ones that became readable, in arrival order.
	Opened []Opened
	// Dropped lists waiting messages given up: evicted, or refused once
	// what they waited for arrived.
	Dropped []Dropped
	// Waiting reports that the item received waits for a change or chain.
	Waiting bool
}

// Opened is a message that was read.
type Opened struct {
	Message   *Message
	Plaintext []byte
}

// Dropped is a message that will not be read, and why.
type Dropped struct {
	Message *Message
	Err     error
}

// NewReplica returns the replica of device self for the group log holds.
func NewReplica(self addr.Address, log *Log) *Replica {
	r := &Replica{self: self, log: log, holders: map[addr.Address]bool{},
		chains: map[addr.Address][]*ReceiverChain{}, dirty: map[string]bool{}}
	r.dirty[partLog] = true
	return r
}

// ID returns the group's ID.
func (r *Replica) ID() ID { return r.log.ID() }

// Self returns the device the replica belongs to.
func (r *Replica) Self() addr.Address { return r.self }

// Log returns the replica's log.
func (r *Replica) Log() *Log { return r.log }

// Head returns the current state.
func (r *Replica) Head() *State { return r.log.Head() }

// ReceiveChange handles a change carried by a pairwise session: see
// Log.Receive. Messages waiting for the states it adds are opened.
func (r *Replica) ReceiveChange(c *Change) (Update, error) {
	res, err := r.log.Receive(c)
	if err != nil {
		return Update{}, err
	}
	return r.afterLog(res), nil
}

// ReceiveWelcome handles a welcome that device from sent: see
// Log.ReceiveWelcome. Only the change's signer, who vouches for the
// welcome's base, or another device of this user may send one.
func (r *Replica) ReceiveWelcome(w *Welcome, from addr.Address) (Update, error) {
	if from.User != w.change.signer && from.User != r.self.User {
		return Update{}, fmt.Errorf("%w: welcome signed by %s sent by %s", ErrUnauthorized, w.change.signer, from.User)
	}
	log, res, err := r.log.ReceiveWelcome(w, r.self.User)
	if err != nil {
		return Update{}, err
	}
	if log != r.log {
		r.log = log
		r.dropOldChains()
	}
	return r.afterLog(res), nil
}

func (r *Replica) afterLog(res Result) Update {
	u := Update{Result: res, Waiting: res.Pending}
	if len(res.Applied) > 0 {
		r.dirty[partLog] = true
		r.retryDists()
		r.retryMessages(&u)
		r.dropOldChains()
	} else if res.Pending {
		r.dirty[partLog] = true
	}
	return u
}

// ReceiveDistribution handles a distribution that the session with device
// from carried. It waits if it names a state not held yet. A second copy
// of a chain held already is ErrDuplicate.
func (r *Replica) ReceiveDistribution(d *Distribution, from addr.Address) (Update, error) {
	var u Update
	switch {
	case d.Group != r.ID():
		return u, fmt.Errorf("%w: distribution of group %s", ErrInvalidChange, d.Group)
	case d.Sender != from:
		return u, fmt.Errorf("%w: distribution of %s's chain sent by %s", ErrUnauthorized, d.Sender, from)
	case from == r.self:
		return u, fmt.Errorf("%w: distribution from this device", ErrUnauthorized)
	}
	st, ok := r.log.State(d.Epoch, d.State)
	if !ok {
		if d.Epoch < r.log.Oldest() {
			return u, fmt.Errorf("%w: distribution for epoch %d", ErrRollback, d.Epoch)
		}
		r.waitDist(from, d)
		u.Waiting = true
		return u, nil
	}
	if err := r.accept(d, from, st); err != nil {
		return u, err
	}
	r.retryMessages(&u)
	return u, nil
}

// accept stores the chain d gives.
func (r *Replica) accept(d *Distribution, from addr.Address, st *State) error {
	list := r.chains[d.Sender]
	for _, rc := range list {
		if rc.id == d.Chain {
			if rc.Same(d) {
				return ErrDuplicate
			}
			return fmt.Errorf("%w: chain %d of %s given twice with different keys", ErrInvalidChange, d.Chain, d.Sender)
		}
	}
	rc, err := Accept(d, from, st, r.self.User)
	if err != nil {
		return err
	}
	list = append([]*ReceiverChain{rc}, list...)
	r.chains[d.Sender] = list[:min(len(list), MaxChainsPerSender)]
	r.dirty[chainPart(d.Sender)] = true
	return nil
}

func (r *Replica) waitDist(from addr.Address, d *Distribution) {
	if len(r.dists) == MaxPendingDistributions {
		r.dists = r.dists[1:]
	}
	r.dists = append(r.dists, waitingDist{from: from, d: d})
	r.dirty[partDists] = true
}

// retryDists accepts the waiting distributions whose state is now held and
// drops those that can never be.
func (r *Replica) retryDists() {
	kept := r.dists[:0]
	for _, w := range r.dists {
		st, ok := r.log.State(w.d.Epoch, w.d.State)
		switch {
		case ok:
			_ = r.accept(w.d, w.from, st) // a refused one is dropped
		case w.d.Epoch >= r.log.Oldest():
			kept = append(kept, w)
		}
	}
	if len(kept) != len(r.dists) {
		r.dirty[partDists] = true
	}
	r.dists = kept
}

// ReceiveMessage opens a group message, or keeps it until the state or
// chain it needs arrives. A message already read is ErrDuplicate.
func (r *Replica) ReceiveMessage(m *Message) (Update, error) {
	var u Update
	switch {
	case m.Group != r.ID():
		return u, fmt.Errorf("%w: message of group %s", ErrInvalidChange, m.Group)
	case m.Sender == r.self:
		return u, fmt.Errorf("%w: message from this device", ErrUnauthorized)
	}
	pt, err := r.open(m)
	switch {
	case errors.Is(err, errWait):
		r.wait(m, &u)
		u.Waiting = true
		return u, nil
	case err != nil:
		return u, err
	}
	u.Opened = append(u.Opened, Opened{Message: m, Plaintext: pt})
	r.retryMessages(&u)
	return u, nil
}

// errWait reports a message that cannot be opened yet.
var errWait = errors.New("group: wait")

// open opens m, or returns errWait if its state or chain is missing.
func (r *Replica) open(m *Message) ([]byte, error) {
	st, ok := r.log.State(m.Epoch, m.State)
	if !ok {
		if m.Epoch < r.log.Oldest() {
			return nil, fmt.Errorf("%w: message of epoch %d, older than every state held", ErrUnknownState, m.Epoch)
		}
		return nil, errWait
	}
	for _, rc := range r.chains[m.Sender] {
		if rc.id == m.Chain {
			pt, err := rc.Open(m, st, r.self.User)
			if err == nil {
				r.dirty[chainPart(m.Sender)] = true
			}
			return pt, err
		}
	}
	return nil, errWait
}

func (r *Replica) wait(m *Message, u *Update) {
	for _, w := range r.waiting {
		if string(w.m.raw) == string(m.raw) {
			return
		}
	}
	if len(r.waiting) == MaxPendingMessages {
		old := r.waiting[0]
		r.waiting = r.waiting[1:]
		r.dirty[waitPart(old.seq)] = true
		u.Dropped = append(u.Dropped, Dropped{Message: old.m, Err: r.whyWaiting(old.m)})
	}
	r.waiting = append(r.waiting, waitingMessage{seq: r.nextSeq, m: m})
	r.dirty[waitPart(r.nextSeq)] = true
	r.nextSeq++
}

// whyWaiting names what a waiting message lacks.
func (r *Replica) whyWaiting(m *Message) error {
	if _, ok := r.log.State(m.Epoch, m.State); !ok {
		return ErrUnknownState
	}
	return ErrNoChain
}

// retryMessages opens the waiting messages that can be opened now, and
// drops those refused.
func (r *Replica) retryMessages(u *Update) {
	kept := r.waiting[:0]
	for _, w := range r.waiting {
		pt, err := r.open(w.m)
		switch {
		case errors.Is(err, errWait):
			kept = append(kept, w)
			continue
		case err == nil:
			u.Opened = append(u.Opened, Opened{Message: w.m, Plaintext: pt})
		case !errors.Is(err, ErrDuplicate):
			u.Dropped = append(u.Dropped, Dropped{Message: w.m, Err: err})
		}
		r.dirty[waitPart(w.seq)] = true
	}
	r.waiting = kept
}

// dropOldChains forgets the chains of devices whose user is a member of
// no state held: nothing they sent can be read any more.
func (r *Replica) dropOldChains() {
	for a := range r.chains {
		if !r.everMember(a.User) {
			delete(r.chains, a)
			r.dirty[chainPart(a)] = true
		}
	}
}

func (r *Replica) everMember(u addr.UserID) bool {
	for _, st := range r.log.states {
		if st.IsMember(u) {
			return true
		}
	}
	return false
}

// Handout is a distribution to give to one device over its session.
type Handout struct {
	To           addr.Address
	Distribution *Distribution
}

// PrepareSend readies this device to send in the current state to
// recipients: every certified device of every member but this one. It
// starts a new chain if NeedsRotation says so (a rotation: the old chain's
// holders get nothing more), and returns the distributions to give, over
// their sessions, to the recipients that do not hold the chain yet and
// that reachable accepts (nil: all; a device without a session is not
// reachable now, and gets the chain at a later send). The caller delivers
// them (they are secret) before the message that needs them, which goes
// to the recipients among Holders. A recipient whose user is not a member
// is refused.
func (r *Replica) PrepareSend(recipients []addr.Address, reachable func(addr.Address) bool) (handouts []Handout, rotated bool, err error) {
	head := r.log.Head()
	if !head.IsMember(r.self.User) {
		return nil, false, fmt.Errorf("%w: %s in group %s", ErrNotMember, r.self.User, head.id)
	}
	set := make(map[addr.Address]bool, len(recipients))
	for _, a := range recipients {
		if !head.IsMember(a.User) {
			return nil, false, fmt.Errorf("%w: recipient %s", ErrNotMember, a)
		}
		if a != r.self {
			set[a] = true
		}
	}
	if NeedsRotation(r.own, head, r.holders, set) {
		var avoid uint32
		if r.own != nil {
			avoid = r.own.id
		}
		if r.own, err = NewSenderChain(head, r.self, avoid); err != nil {
			return nil, false, err
		}
		r.holders, rotated = map[addr.Address]bool{}, true
		r.dirty[partOwn] = true
	}
	d, err := r.own.Distribution(head)
	if err != nil {
		return nil, false, err
	}
	for _, a := range sortedAddresses(set) {
		if !r.holders[a] && (reachable == nil || reachable(a)) {
			handouts = append(handouts, Handout{To: a, Distribution: d})
			r.holders[a] = true
		}
	}
	if len(handouts) > 0 || rotated {
		r.dirty[partHolders] = true
	}
	return handouts, rotated, nil
}

// Seal encrypts plaintext as this device's next message in the current
// state. Call PrepareSend first.
func (r *Replica) Seal(plaintext []byte) ([]byte, error) {
	if r.own == nil {
		return nil, fmt.Errorf("%w: PrepareSend first", ErrStaleChain)
	}
	msg, err := r.own.Seal(r.log.Head(), plaintext)
	if err == nil {
		r.dirty[partOwn] = true
	}
	return msg, err
}

// Holders returns the devices that hold this device's current chain.
func (r *Replica) Holders() []addr.Address { return sortedAddresses(r.holders) }

func sortedAddresses(set map[addr.Address]bool) []addr.Address {
	out := make([]addr.Address, 0, len(set))
	for a := range set {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b addr.Address) int {
		if a.User != b.User {
			if a.User < b.User {
				return -1
			}
			return 1
		}
		return cmpU32(uint32(a.Device), uint32(b.Device))
	})
	return out
}

// Format, String and GoString print REDACTED: a replica holds keys.
func (Replica) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }
func (Replica) String() string             { return redacted }
func (Replica) GoString() string           { return redacted }
