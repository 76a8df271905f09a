package vault

import (
	"bytes"
	"fmt"
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
