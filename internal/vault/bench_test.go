package vault

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"parley.dev/internal/benchcap"
)

// BenchmarkUnlockKDF is the cost of one PIN attempt at the production
// defaults: Argon2id, 64 MiB, 3 passes, 4 lanes (the test hook does not
// apply here).
func BenchmarkUnlockKDF(b *testing.B) {
	benchcap.Runs(b, 20)
	for _, p := range []KDFParams{DefaultKDF(), {Memory: MinKDFMemory, Time: MinKDFTime, Threads: 1}} {
		b.Run(fmt.Sprintf("m=%dMiB,t=%d,p=%d", p.Memory/1024, p.Time, p.Threads), func(b *testing.B) {
			var salt [saltSize]byte
			for b.Loop() {
				clear(pinKey([]byte("482916"), &salt, p))
			}
		})
	}
}

func benchVault(b *testing.B) *Vault {
	v, err := Create(b.Context(), filepath.Join(b.TempDir(), "v"), testPIN, Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { v.Close() })
	return v
}

var value1KiB = bytes.Repeat([]byte("m"), 1024)

// BenchmarkPut1KiB is one durable (fsynced) single-record write.
func BenchmarkPut1KiB(b *testing.B) {
	v := benchVault(b)
	b.SetBytes(int64(len(value1KiB)))
	i := 0
	for b.Loop() {
		if err := v.Put("history", fmt.Sprint(i%1000), value1KiB); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkGet1KiB(b *testing.B) {
	v := benchVault(b)
	for i := range 1000 {
		v.Put("history", fmt.Sprint(i), value1KiB)
	}
	b.SetBytes(int64(len(value1KiB)))
	i := 0
	for b.Loop() {
		if _, err := v.Get("history", fmt.Sprint(i%1000)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkUpdate3 is what the SDK does per received message: the message
// (1 KiB), the new session state and a dedupe marker, in one durable
// transaction.
func BenchmarkUpdate3(b *testing.B) {
	v := benchVault(b)
	session := bytes.Repeat([]byte("s"), 512)
	i := 0
	for b.Loop() {
		id := fmt.Sprint(i % 1000)
		err := v.Update(func(tx *Tx) error {
			if err := tx.Put("history", id, value1KiB); err != nil {
				return err
			}
			if err := tx.Put("sessions", "bob/1", session); err != nil {
				return err
			}
			return tx.Put("seen", id, nil)
		})
		if err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkBurstRecord is one record of a group commit: 1,000 new
// 300-byte records and 1,000 reads in one durable transaction, as the
// SDK's burst send and batched receive do. One op is one record.
func BenchmarkBurstRecord(b *testing.B) {
	v := benchVault(b)
	val := bytes.Repeat([]byte("r"), 300)
	const burst = 1000
	n := 0
	for b.Loop() {
		if n%burst == 0 {
			b.StopTimer()
			b.StartTimer()
		}
		n++
		if n%burst != 0 {
			continue
		}
		base := n
		err := v.Update(func(tx *Tx) error {
			for i := range burst {
				if err := tx.Put("history", fmt.Sprint(base+i), val); err != nil {
					return err
				}
				if _, err := tx.Get("history", fmt.Sprint(base+i)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBurstIntoFullVault writes bursts of 1,000 new 300-byte records
// in one transaction each, into an empty vault and into one that already
// holds 100,000, and reports the WAL bytes written per record (automatic
// checkpoints off while it runs, so the WAL keeps every frame). Records
// are found by an HMAC of their key, random by design, so in a large vault
// many new records land on an index page of their own, which the WAL (and
// later the checkpoint) writes whole: the SDK's sends into a full vault
// cost more for this reason (BENCHMARKS.md, stops 28 and 31). The index
// holds 4 bytes of each id, not 32, to have fewer such pages (db.go).
//
//	go test -run '^$' -bench BurstIntoFullVault -benchtime 5x ./internal/vault
func BenchmarkBurstIntoFullVault(b *testing.B) {
	for _, prefill := range []int{0, 100_000} {
		b.Run(fmt.Sprintf("records=%d", prefill), func(b *testing.B) {
			v := benchVault(b)
			val := bytes.Repeat([]byte("r"), 300)
			const burst = 1000
			for base := 0; base < prefill; base += burst {
				putBurst(b, v, "p", base, burst, val)
			}
			for _, q := range []string{"PRAGMA wal_checkpoint(TRUNCATE)", "PRAGMA wal_autocheckpoint=0"} {
				if _, err := v.db.Exec(q); err != nil {
					b.Fatal(err)
				}
			}
			n := 0
			for b.Loop() {
				putBurst(b, v, "n", n, burst, val)
				n += burst
			}
			st, err := os.Stat(filepath.Join(v.dir, dbFile+"-wal"))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(st.Size())/float64(n), "wal-bytes/record")
		})
	}
}

// putBurst puts n records, keyed prefix+number from base, in one
// transaction.
func putBurst(b *testing.B, v *Vault, prefix string, base, n int, val []byte) {
	err := v.Update(func(tx *Tx) error {
		for i := range n {
			if err := tx.Put("history", fmt.Sprint(prefix, base+i), val); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}
