package group

import (
	"testing"
	"time"

	"parley.dev/internal/addr"
	"parley.dev/internal/benchcap"
	"parley.dev/internal/keys/keystest"
	"parley.dev/internal/session"
)

// benchText is a typical chat message inside its client envelope (ID,
// time, text): about 100 bytes.
var benchText = make([]byte, 100)

// bigGroup returns a state of n members (u0000 first, the admin), each
// with devices devices, and the recipient devices of u0000/1.
func bigGroup(b *testing.B, n, devices int) (*Change, []person, []addr.Address) {
	b.Helper()
	ps := make([]person, n)
	for i := range ps {
		ps[i] = personN(10000 + i)
	}
	c, _, err := Create(ps[0].id, ps[0].user, "big", members(ps[1:]...), testTime)
	check(b, err)
	var to []addr.Address
	for _, p := range ps {
		for d := range devices {
			if a := p.device(uint32(d + 1)); a != ps[0].device(1) {
				to = append(to, a)
			}
		}
	}
	return c, ps, to
}

// pairwise returns confirmed sessions from device from to each of to:
// the state every later session message is sent in.
func pairwise(b *testing.B, from person, fromAddr addr.Address, to []addr.Address) []*session.Session {
	b.Helper()
	ss := make([]*session.Session, len(to))
	for i, a := range to {
		dev := keystest.NewDevice(a)
		s := must(session.Initiate(from.id, fromAddr, dev.Bundle(1, 1)))
		r, _, _, err := session.Respond(dev.Identity, a, fromAddr, dev, must(s.Encrypt(nil)))
		check(b, err)
		must(s.Decrypt(must(r.Encrypt(nil))))
		ss[i] = s
	}
	return ss
}

// BenchmarkSend compares one group message to 100 members with 2 devices
// each (199 recipient devices: one sender-key encryption and signature,
// with the replica's bookkeeping and the part to store) with sending the
// same text as 200 pairwise session messages.
func BenchmarkSend(b *testing.B) {
	c, ps, to := bigGroup(b, 100, 2)
	b.Run("group-100x2", func(b *testing.B) {
		r := NewReplica(ps[0].device(1), must(NewLog(c)))
		_, _, err := r.PrepareSend(to, nil)
		check(b, err)
		must(r.Dirty())
		cpu := benchcap.ProcessCPU()
		for b.Loop() {
			hs, _, err := r.PrepareSend(to, nil)
			if err != nil || len(hs) != 0 {
				b.Fatal(err, len(hs))
			}
			must(r.Seal(benchText))
			must(r.Dirty())
		}
		reportCPU(b, cpu)
	})
	b.Run("pairwise-200", func(b *testing.B) {
		targets := append(to[:len(to):len(to)], ps[0].device(3)) // 200 devices
		ss := pairwise(b, ps[0], ps[0].device(1), targets)
		cpu := benchcap.ProcessCPU()
		for b.Loop() {
			for _, s := range ss {
				must(s.Encrypt(benchText))
			}
		}
		reportCPU(b, cpu)
	})
}

// BenchmarkOpen is one group message received: the signature check, the
// chain step and the decryption.
func BenchmarkOpen(b *testing.B) {
	tr := newTrio(b)
	bob, ann := tr.r(tr.bob), tr.r(tr.ann)
	m := send(b, bob, tr.rs, "warm up")
	readOne(b, ann, m)
	msgs := make([]*Message, 0, 1024)
	b.ResetTimer()
	var cpu, setup time.Duration
	cpu = benchcap.ProcessCPU()
	for i := 0; b.Loop(); i++ {
		if i == len(msgs) {
			b.StopTimer()
			start := benchcap.ProcessCPU()
			msgs = msgs[:0]
			for range cap(msgs) {
				msgs = append(msgs, must(ParseMessage(must(bob.Seal(benchText)))))
			}
			i = 0
			setup += benchcap.ProcessCPU() - start
			b.StartTimer()
		}
		u, err := ann.ReceiveMessage(msgs[i])
		if err != nil || len(u.Opened) != 1 {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu+setup)
}

// BenchmarkRemoval1000 prices the re-key after one member of a 1,000-member
// group (one device each) is removed:
//   - change: the admin signs the removal and applies it (hashing the
//     1,000-member state);
//   - send-change: the admin seals it in 998 pairwise sessions;
//   - apply: a member verifies and applies it;
//   - rekey: a remaining member starts a fresh chain and seals its
//     distribution in 998 pairwise sessions, which it does before its next
//     message. Every remaining member does this once.
//
// Bytes are reported per run as metrics: what the admin and each member
// upload.
func BenchmarkRemoval1000(b *testing.B) {
	benchcap.Runs(b, 50)
	c, ps, to := bigGroup(b, MaxMembers, 1)
	log := must(NewLog(c))
	head := log.Head()
	victim := ps[len(ps)-1].user
	rest := to[:len(to)-1] // everyone but the admin and the victim
	rm, _, err := head.Remove(ps[0].id, ps[0].user, []addr.UserID{victim}, testTime)
	check(b, err)
	after := must(head.Apply(rm))
	b.Run("change", func(b *testing.B) {
		cpu := benchcap.ProcessCPU()
		for b.Loop() {
			must2(head.Remove(ps[0].id, ps[0].user, []addr.UserID{victim}, testTime))
		}
		reportCPU(b, cpu)
		b.ReportMetric(float64(len(rm.enc)), "change-bytes")
	})
	admin := pairwise(b, ps[0], ps[0].device(1), rest)
	b.Run("send-change", func(b *testing.B) {
		var n int
		cpu := benchcap.ProcessCPU()
		for b.Loop() {
			n = 0
			for _, s := range admin {
				n += len(must(s.Encrypt(rm.enc)))
			}
		}
		reportCPU(b, cpu)
		b.ReportMetric(float64(n), "upload-bytes")
	})
	b.Run("apply", func(b *testing.B) {
		cpu := benchcap.ProcessCPU()
		for b.Loop() {
			must(head.Apply(rm))
		}
		reportCPU(b, cpu)
	})
	member := ps[1]
	others := append([]addr.Address{ps[0].device(1)}, rest[1:]...)
	sessions := pairwise(b, member, member.device(1), others)
	b.Run("rekey", func(b *testing.B) {
		var n int
		cpu := benchcap.ProcessCPU()
		for b.Loop() {
			n = 0
			chain := must(NewSenderChain(after, member.device(1), 0))
			d := must(chain.Distribution(after))
			db := must(d.MarshalBinary())
			for _, s := range sessions {
				n += len(must(s.Encrypt(db)))
			}
		}
		reportCPU(b, cpu)
		b.ReportMetric(float64(n), "upload-bytes")
	})
}

// reportCPU reports the process's CPU time per run since start.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64((benchcap.ProcessCPU()-start).Microseconds())/float64(b.N), "cpu-µs/op")
}

func must2[A, B any](a A, b B, err error) (A, B) {
	if err != nil {
		panic(err)
	}
	return a, b
}
