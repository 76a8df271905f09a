package group

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"parley.dev/internal/addr"
	"parley.dev/internal/keys"
	"parley.dev/internal/keys/keystest"
)

// person is a user of the tests: a deterministic identity.
type person struct {
	user addr.UserID
	id   *keys.Identity
}

func newPerson(name string) person {
	return person{user: addr.UserID(name), id: keystest.Identity(name)}
}

func (p person) member() Member {
	return Member{User: p.user, Identity: p.id.Public(), Role: RoleMember}
}

func (p person) device(n uint32) addr.Address {
	return addr.Address{User: p.user, Device: addr.DeviceID(n)}
}

func people(names ...string) []person {
	ps := make([]person, len(names))
	for i, n := range names {
		ps[i] = newPerson(n)
	}
	return ps
}

func members(ps ...person) []Member {
	ms := make([]Member, len(ps))
	for i, p := range ps {
		ms[i] = p.member()
	}
	return ms
}

var testTime = time.UnixMilli(1_700_000_000_000)

// must returns v, or panics (failing the test) on err.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func check(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t testing.TB, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want %v", err, want)
	}
}

// create makes a group of admin and others and returns the create and a
// log.
func create(t testing.TB, admin person, others ...person) (*Change, *Log) {
	t.Helper()
	c, _, err := Create(admin.id, admin.user, "team", members(others...), testTime)
	check(t, err)
	return c, must(NewLog(c))
}

// replicaOf returns the replica of device 1 of p, joined at c (a create).
func replicaOf(t testing.TB, p person, c *Change) *Replica {
	t.Helper()
	return NewReplica(p.device(1), must(NewLog(c)))
}

// send has r prepare for recipients, hands the distributions to the
// replicas of the recipients (rs, by address) and returns the sealed text.
func send(t testing.TB, r *Replica, rs map[addr.Address]*Replica, text string) *Message {
	t.Helper()
	var to []addr.Address
	for a := range rs {
		if a != r.self && r.Head().IsMember(a.User) {
			to = append(to, a)
		}
	}
	hs, _, err := r.PrepareSend(to, nil)
	check(t, err)
	for _, h := range hs {
		enc := must(h.Distribution.MarshalBinary())
		d := must(ParseDistribution(enc))
		if _, err := rs[h.To].ReceiveDistribution(d, r.self); err != nil && !errors.Is(err, ErrDuplicate) {
			t.Fatalf("%s: distribution from %s: %v", h.To, r.self, err)
		}
	}
	return must(ParseMessage(must(r.Seal([]byte(text)))))
}

// readOne delivers m to r and returns the one plaintext it opens.
func readOne(t testing.TB, r *Replica, m *Message) string {
	t.Helper()
	u, err := r.ReceiveMessage(m)
	if err != nil {
		t.Fatalf("%s: %v", r.self, err)
	}
	if len(u.Opened) != 1 {
		t.Fatalf("%s: opened %d messages, want 1 (waiting %v)", r.self, len(u.Opened), u.Waiting)
	}
	return string(u.Opened[0].Plaintext)
}

func (p person) String() string { return fmt.Sprint(p.user) }
