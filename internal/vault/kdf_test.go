package vault

import (
	"fmt"
	"testing"
	"time"
)

func TestProductionKDFDefaultsAreStrong(t *testing.T) {
	d := DefaultKDF()
	if d.Memory < 64*1024 || d.Time < 3 || d.Threads < 1 || d.Threads > 4 {
		t.Fatalf("DefaultKDF() = %+v; want ≥ 64 MiB, ≥ 3 passes, 1..4 threads", d)
	}
	if err := d.check(false); err != nil {
		t.Fatalf("defaults fail their own check: %v", err)
	}
	if MinKDFMemory < 19*1024 || MinKDFTime < 2 {
		t.Fatalf("floors %d KiB × %d below OWASP's 19 MiB × 2", MinKDFMemory, MinKDFTime)
	}
	// Zero params mean the defaults, unless the test hook is set.
	cheapKDF.Store(false)
	got := KDFParams{}.effective()
	cheapKDF.Store(true)
	if got != d {
		t.Fatalf("KDFParams{}.effective() = %+v without the hook, want %+v", got, d)
	}
}

func TestKDFCheck(t *testing.T) {
	for _, c := range []struct {
		p         KDFParams
		allowWeak bool
		ok        bool
	}{
		{DefaultKDF(), false, true},
		{KDFParams{Memory: MinKDFMemory, Time: MinKDFTime, Threads: 1}, false, true},
		{KDFParams{Memory: MinKDFMemory - 1, Time: MinKDFTime, Threads: 1}, false, false},
		{KDFParams{Memory: MinKDFMemory, Time: MinKDFTime - 1, Threads: 1}, false, false},
		{testKDF, false, false},
		{testKDF, true, true},
		{KDFParams{Memory: MaxKDFMemory, Time: MaxKDFWork / MaxKDFMemory, Threads: MaxKDFThreads}, false, true},
		{KDFParams{Memory: MaxKDFMemory + 1, Time: 2, Threads: 1}, true, false},
		{KDFParams{Memory: 64 * 1024, Time: MaxKDFTime + 1, Threads: 1}, true, false},
		{KDFParams{Memory: MaxKDFMemory, Time: MaxKDFWork/MaxKDFMemory + 1, Threads: 1}, true, false},
		{KDFParams{Memory: 64 * 1024, Time: 3, Threads: 0}, true, false},
		{KDFParams{Memory: 64 * 1024, Time: 3, Threads: MaxKDFThreads + 1}, true, false},
		{KDFParams{Memory: 8, Time: 1, Threads: 2}, true, false}, // below Argon2's 8 KiB per lane
	} {
		t.Run(fmt.Sprintf("%+v/%v", c.p, c.allowWeak), func(t *testing.T) {
			if err := c.p.check(c.allowWeak); (err == nil) != c.ok {
				t.Fatalf("check = %v, want ok=%v", err, c.ok)
			}
		})
	}
}

func TestLockoutSchedule(t *testing.T) {
	var prev time.Duration
	for n := uint32(0); n < 100; n++ {
		d := lockout(n)
		if n <= FreeAttempts && d != 0 {
			t.Fatalf("lockout(%d) = %v within the free attempts", n, d)
		}
		if n > FreeAttempts && d == 0 {
			t.Fatalf("lockout(%d) = 0 after the free attempts", n)
		}
		if d < prev || d > MaxLockout {
			t.Fatalf("lockout(%d) = %v: not rising or above %v", n, d, MaxLockout)
		}
		prev = d
	}
	if lockout(^uint32(0)) != MaxLockout {
		t.Fatal("lockout does not saturate at MaxLockout")
	}
}
