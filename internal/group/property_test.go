package group

import (
	"errors"
	"flag"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"parley.dev/internal/addr"
)

// Schedules of TestPropertyRandomSchedules: 100 normally, fewer under the
// race detector, which makes each several times slower; -schedules asks for
// more. Each schedule costs about a hundred Ed25519 verifications per
// device, which dominate its time.
var schedules = flag.Int("schedules", 0, "schedules for TestPropertyRandomSchedules (0: the default)")

const (
	propertySchedules     = 100
	propertySchedulesRace = 6
	propertySteps         = 60
)

// packetKind says what a packet carries. Changes, welcomes and
// distributions travel in pairwise sessions, which deliver them (late,
// reordered, duplicated) but never lose them for good: the sender's outbox
// resends until the relay stores them. Group messages travel through the
// relay's fan-out, which may also drop them.
type packetKind int

const (
	pChange packetKind = iota
	pWelcome
	pDist
	pMessage
	pForward // a group message the relay hands to a device it was not sent to
)

type packet struct {
	kind packetKind
	from addr.Address
	to   addr.Address
	data []byte
	msg  int // pMessage: the message's number
}

// sentMessage is what the world knows of one group message.
type sentMessage struct {
	recipients map[addr.Address]bool // devices of the members of the state it was sent in
	dropped    map[addr.Address]bool // recipients whose every copy the network dropped
	received   map[addr.Address]bool // recipients a copy reached
	readBy     map[addr.Address]int
	data       []byte
	parsed     *Message
}

// world is one schedule: users with one or two devices, a network, and
// each device's replica with the parts it has stored.
type world struct {
	t        *testing.T
	seed     uint64
	rng      *rand.Rand
	users    []person
	devices  map[addr.UserID][]addr.Address
	replicas map[addr.Address]*Replica
	stored   map[addr.Address]map[string][]byte
	orphans  map[addr.Address][]packet // arrived before the device joined
	ever     map[addr.UserID]bool      // users that were ever members
	net      []packet
	msgs     []*sentMessage
}

// TestPropertyRandomSchedules runs random schedules over groups of 5 to 20
// members, some with two devices: adds and removes by the admin, sends
// from every device, and a network that drops group messages, delivers
// everything late, reordered and duplicated, while devices restart from
// their stored parts. Every message that survives is read exactly once by
// exactly the devices that were members of the state it was sent in; no
// other device reads it; nothing is refused but duplicates.
func TestPropertyRandomSchedules(t *testing.T) {
	n := propertySchedules
	if raceEnabled {
		n = propertySchedulesRace
	}
	if *schedules > 0 {
		n = *schedules
	}
	for seed := range uint64(n) {
		w := newWorld(t, seed)
		w.run()
		if t.Failed() {
			t.Logf("seed %d", seed)
			return
		}
	}
}

func newWorld(t *testing.T, seed uint64) *world {
	rng := rand.New(rand.NewPCG(seed, 0x6e0c))
	w := &world{t: t, seed: seed, rng: rng, devices: map[addr.UserID][]addr.Address{},
		replicas: map[addr.Address]*Replica{}, stored: map[addr.Address]map[string][]byte{},
		orphans: map[addr.Address][]packet{}, ever: map[addr.UserID]bool{}}
	n := 5 + rng.IntN(16)
	for i := range n + 4 { // a few users who join later
		p := personN(i)
		w.users = append(w.users, p)
		for d := range 1 + rng.IntN(2) {
			w.devices[p.user] = append(w.devices[p.user], p.device(uint32(d+1)))
		}
	}
	admin := w.users[0]
	c, _, err := Create(admin.id, admin.user, "property", members(w.users[1:n]...), testTime)
	w.check(err)
	for _, p := range w.users[:n] {
		w.ever[p.user] = true
		for _, a := range w.devices[p.user] {
			w.replicas[a] = NewReplica(a, must(NewLog(c)))
			w.persist(a)
		}
	}
	return w
}

var personCache = map[int]person{}

func personN(i int) person {
	if p, ok := personCache[i]; ok {
		return p
	}
	p := newPerson("u" + strconv.Itoa(i))
	personCache[i] = p
	return p
}

func (w *world) check(err error) {
	w.t.Helper()
	if err != nil {
		w.t.Fatalf("seed %d: %v", w.seed, err)
	}
}

func (w *world) run() {
	for range propertySteps {
		switch op := w.rng.IntN(100); {
		case op < 35:
			w.send()
		case op < 45:
			w.change()
		case op < 85:
			w.deliver()
		case op < 90:
			w.drop()
		case op < 94:
			w.forward()
		default:
			w.restart()
		}
	}
	for len(w.net) > 0 {
		w.deliver()
	}
	w.verify()
}

// senders returns the devices that may send now: their replica's head
// has their user.
func (w *world) senders() []addr.Address {
	var out []addr.Address
	for a, r := range w.replicas {
		if r.Head().IsMember(a.User) {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b addr.Address) int { return compareAddr(a, b) })
	return out
}

func compareAddr(a, b addr.Address) int {
	if a.User != b.User {
		if a.User < b.User {
			return -1
		}
		return 1
	}
	return cmpU32(uint32(a.Device), uint32(b.Device))
}

func (w *world) send() {
	ss := w.senders()
	if len(ss) == 0 {
		return
	}
	from := ss[w.rng.IntN(len(ss))]
	r := w.replicas[from]
	head := r.Head()
	var to []addr.Address
	for _, m := range head.Members() {
		for _, a := range w.devices[m.User] {
			if a != from {
				to = append(to, a)
			}
		}
	}
	// Now and then a device has no session yet: it gets no chain, and so
	// not this message; it gets the chain at a later send.
	var unreachable addr.Address
	if len(to) > 0 && w.rng.IntN(10) == 0 {
		unreachable = to[w.rng.IntN(len(to))]
	}
	hs, _, err := r.PrepareSend(to, func(a addr.Address) bool { return a != unreachable })
	w.check(err)
	for _, h := range hs {
		w.net = append(w.net, packet{kind: pDist, from: from, to: h.To, data: must(h.Distribution.MarshalBinary())})
	}
	id := len(w.msgs)
	data, err := r.Seal([]byte(strconv.Itoa(id)))
	w.check(err)
	w.persist(from)
	sm := &sentMessage{recipients: map[addr.Address]bool{}, dropped: map[addr.Address]bool{},
		received: map[addr.Address]bool{}, readBy: map[addr.Address]int{}}
	sm.data, sm.parsed = data, must(ParseMessage(data))
	for _, a := range r.Holders() {
		if !slices.Contains(to, a) {
			continue
		}
		sm.recipients[a] = true
		w.net = append(w.net, packet{kind: pMessage, from: from, to: a, data: data, msg: id})
	}
	w.msgs = append(w.msgs, sm)
}

// change has the admin's first device add a user who was never a member
// or remove a member other than the admin.
func (w *world) change() {
	admin := w.users[0]
	dev := w.devices[admin.user][0]
	r := w.replicas[dev]
	head := r.Head()
	var c *Change
	var err error
	var joining []person
	if w.rng.IntN(2) == 0 {
		for _, p := range w.users {
			if !w.ever[p.user] {
				joining = append(joining, p)
				break
			}
		}
	}
	if len(joining) > 0 {
		c, _, err = head.Add(admin.id, admin.user, members(joining...), testTime)
	} else {
		ms := head.Members()[1:] // never the admin (u0 sorts first)
		if len(ms) < 3 {
			return
		}
		c, _, err = head.Remove(admin.id, admin.user, []addr.UserID{ms[w.rng.IntN(len(ms))].User}, testTime)
	}
	w.check(err)
	base := head
	_, err = r.ReceiveChange(c)
	w.check(err)
	w.persist(dev)
	cb := must(c.MarshalBinary())
	for _, p := range joining {
		w.ever[p.user] = true
		wb := must(NewWelcome(base, c).MarshalBinary())
		for _, a := range w.devices[p.user] {
			w.net = append(w.net, packet{kind: pWelcome, from: dev, to: a, data: wb})
		}
	}
	for _, m := range base.Members() {
		for _, a := range w.devices[m.User] {
			if a != dev {
				w.net = append(w.net, packet{kind: pChange, from: dev, to: a, data: cb})
			}
		}
	}
}

func (w *world) deliver() {
	if len(w.net) == 0 {
		return
	}
	i := w.rng.IntN(len(w.net))
	p := w.net[i]
	if w.rng.IntN(100) >= 15 { // else a duplicate stays in flight
		w.net = slices.Delete(w.net, i, i+1)
	}
	w.handle(p)
}

func (w *world) handle(p packet) {
	r := w.replicas[p.to]
	if r == nil && p.kind != pWelcome {
		w.orphans[p.to] = append(w.orphans[p.to], p)
		return
	}
	var u Update
	var err error
	switch p.kind {
	case pWelcome:
		wl := must(ParseWelcome(p.data))
		if r == nil {
			w.replicas[p.to] = NewReplica(p.to, must(Join(wl)))
			w.persist(p.to)
			orphans := w.orphans[p.to]
			delete(w.orphans, p.to)
			for _, o := range orphans {
				w.handle(o)
			}
			return
		}
		u, err = r.ReceiveWelcome(wl, p.from)
	case pChange:
		u, err = r.ReceiveChange(must(ParseChange(p.data)))
	case pDist:
		u, err = r.ReceiveDistribution(must(ParseDistribution(p.data)), p.from)
	case pMessage:
		w.msgs[p.msg].received[p.to] = true
		u, err = r.ReceiveMessage(must(ParseMessage(p.data)))
	case pForward:
		u, err = r.ReceiveMessage(must(ParseMessage(p.data)))
		err = nil // refusing it is right; opening it is caught by verify
	}
	if err != nil && !errors.Is(err, ErrDuplicate) {
		w.t.Fatalf("seed %d: %s, packet %d from %s: %v", w.seed, p.to, p.kind, p.from, err)
	}
	w.record(p.to, u)
	w.persist(p.to)
}

func (w *world) record(dev addr.Address, u Update) {
	for _, o := range u.Opened {
		id, err := strconv.Atoi(string(o.Plaintext))
		w.check(err)
		w.msgs[id].readBy[dev]++
	}
	for _, d := range u.Dropped {
		w.t.Fatalf("seed %d: %s dropped a message: %v", w.seed, dev, d.Err)
	}
	for _, rf := range u.Result.Refused {
		w.t.Fatalf("seed %d: %s refused a change: %v", w.seed, dev, rf.Err)
	}
}

// drop loses one group message on its way to one device.
func (w *world) drop() {
	var idx []int
	for i, p := range w.net {
		if p.kind == pMessage {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return
	}
	i := idx[w.rng.IntN(len(idx))]
	p := w.net[i]
	w.net = slices.Delete(w.net, i, i+1)
	if !w.msgs[p.msg].received[p.to] &&
		!slices.ContainsFunc(w.net, func(q packet) bool { return q.kind == pMessage && q.msg == p.msg && q.to == p.to }) {
		w.msgs[p.msg].dropped[p.to] = true
	}
}

// forward has a malicious relay hand a copy of a group message to a
// device it was not sent to (a removed member, a member added since, the
// sender itself).
func (w *world) forward() {
	if len(w.msgs) == 0 {
		return
	}
	id := w.rng.IntN(len(w.msgs))
	var outsiders []addr.Address
	for a := range w.replicas {
		if !w.msgs[id].recipients[a] {
			outsiders = append(outsiders, a)
		}
	}
	if len(outsiders) == 0 {
		return
	}
	slices.SortFunc(outsiders, compareAddr)
	w.net = append(w.net, packet{kind: pForward, to: outsiders[w.rng.IntN(len(outsiders))], data: w.msgs[id].data, msg: id})
}

// restart reloads a device from what it stored.
func (w *world) restart() {
	var ds []addr.Address
	for a := range w.replicas {
		ds = append(ds, a)
	}
	if len(ds) == 0 {
		return
	}
	slices.SortFunc(ds, compareAddr)
	a := ds[w.rng.IntN(len(ds))]
	r, err := LoadReplica(a, w.stored[a])
	w.check(err)
	w.replicas[a] = r
}

// persist stores what changed in a's replica, as a device does after
// every step.
func (w *world) persist(a addr.Address) {
	parts, err := w.replicas[a].Dirty()
	w.check(err)
	if w.stored[a] == nil {
		w.stored[a] = map[string][]byte{}
	}
	for k, v := range parts {
		if v == nil {
			delete(w.stored[a], k)
		} else {
			w.stored[a][k] = v
		}
	}
}

func (w *world) verify() {
	for id, m := range w.msgs {
		for _, devs := range w.devices {
			for _, a := range devs {
				want := 0
				if m.recipients[a] && !m.dropped[a] {
					want = 1
				}
				if got := m.readBy[a]; got != want {
					w.t.Fatalf("seed %d: message %d read %d times by %s, want %d (recipient %v, dropped %v)",
						w.seed, id, got, a, want, m.recipients[a], m.dropped[a])
				}
				if r := w.replicas[a]; r != nil && !m.recipients[a] && holdsKey(r, m.parsed) {
					w.t.Fatalf("seed %d: %s holds the key of message %d, which was not sent to it", w.seed, a, id)
				}
			}
		}
	}
}

// holdsKey reports whether r holds the key of m: a chain with m's ID from
// m's sender that reaches m's number, or m's skipped key.
func holdsKey(r *Replica, m *Message) bool {
	for _, rc := range r.chains[m.Sender] {
		if rc.id != m.Chain {
			continue
		}
		if m.N >= rc.n {
			return true
		}
		for _, k := range rc.skipped {
			if k.n == m.N {
				return true
			}
		}
	}
	return false
}
