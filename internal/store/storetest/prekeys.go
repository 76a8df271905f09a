package storetest

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"parley.dev/internal/addr"
	"parley.dev/internal/store"
)

// key returns a distinct fake prekey; one-time EC keys carry no signature.
func key(kind string, id uint32, signed bool) store.PreKey {
	k := store.PreKey{ID: id, Public: fmt.Appendf(nil, "%s public %d", kind, id)}
	if signed {
		k.Signature = fmt.Appendf(nil, "%s signature %d", kind, id)
	}
	return k
}

func oneTime(kind string, first uint32, n int) []store.PreKey {
	var ks []store.PreKey
	for i := range n {
		ks = append(ks, key(kind, first+uint32(i), kind == "kem"))
	}
	return ks
}

// upload is a full upload: signed keys with ID gen and n one-time keys of
// each kind numbered from first.
func upload(gen uint32, first uint32, n int) store.PreKeyUpload {
	signed, last := key("signed", gen, true), key("last", gen, true)
	return store.PreKeyUpload{Signed: &signed, LastResortKEM: &last,
		OneTimeEC: oneTime("ec", first, n), OneTimeKEM: oneTime("kem", first, n)}
}

func putKeys(t *testing.T, e *env, a addr.Address, nEC, nKEM int) {
	t.Helper()
	up := upload(1, 1, 0)
	up.OneTimeEC, up.OneTimeKEM = oneTime("ec", 1, nEC), oneTime("kem", 1, nKEM)
	if err := e.s.PutPreKeys(e.ctx, a, up); err != nil {
		t.Fatalf("PutPreKeys: %v", err)
	}
}

func samePreKey(t *testing.T, what string, got, want store.PreKey) {
	t.Helper()
	if got.ID != want.ID || !bytes.Equal(got.Public, want.Public) || !bytes.Equal(got.Signature, want.Signature) {
		t.Fatalf("%s = {%d %q %q}, want {%d %q %q}", what, got.ID, got.Public, got.Signature, want.ID, want.Public, want.Signature)
	}
}

func (e *env) counts(a addr.Address) store.PreKeyCounts {
	e.t.Helper()
	c, err := e.s.PreKeyCounts(e.ctx, a)
	if err != nil {
		e.t.Fatalf("PreKeyCounts: %v", err)
	}
	return c
}

func testPreKeys(t *testing.T, e *env) {
	ctx, s := e.ctx, e.s
	a := e.user("alice")
	_, err := s.TakeBundle(ctx, a)
	wantErr(t, "TakeBundle with no keys", err, store.ErrNotFound)

	// A signed prekey alone is not a bundle: there is no KEM key.
	signed := key("signed", 1, true)
	if err := s.PutPreKeys(ctx, a, store.PreKeyUpload{Signed: &signed}); err != nil {
		t.Fatal(err)
	}
	_, err = s.TakeBundle(ctx, a)
	wantErr(t, "TakeBundle without KEM key", err, store.ErrNotFound)

	if err := s.PutPreKeys(ctx, a, upload(1, 10, 2)); err != nil {
		t.Fatal(err)
	}
	if c := e.counts(a); c != (store.PreKeyCounts{OneTimeEC: 2, OneTimeKEM: 2}) {
		t.Fatalf("counts = %+v", c)
	}
	// One-time keys go out lowest ID first, each once.
	for i := range uint32(2) {
		b, err := s.TakeBundle(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		samePreKey(t, "Signed", b.Signed, signed)
		samePreKey(t, "KEM", b.KEM, key("kem", 10+i, true))
		if b.KEMLastResort || b.OneTimeEC == nil {
			t.Fatalf("bundle %d: last resort %v, one-time EC %v", i, b.KEMLastResort, b.OneTimeEC)
		}
		samePreKey(t, "OneTimeEC", *b.OneTimeEC, key("ec", 10+i, false))
	}
	if c := e.counts(a); c != (store.PreKeyCounts{}) {
		t.Fatalf("counts after taking all = %+v", c)
	}
	// Exhausted: the last-resort KEM key, no one-time EC key.
	for range 2 {
		b, err := s.TakeBundle(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		if !b.KEMLastResort || b.OneTimeEC != nil {
			t.Fatalf("exhausted bundle: last resort %v, one-time EC %v", b.KEMLastResort, b.OneTimeEC)
		}
		samePreKey(t, "last-resort KEM", b.KEM, key("last", 1, true))
	}

	// Replacing the signed and last-resort keys; EC one-time keys only.
	up := upload(2, 20, 0)
	up.OneTimeEC = oneTime("ec", 20, 1)
	if err := s.PutPreKeys(ctx, a, up); err != nil {
		t.Fatal(err)
	}
	b, err := s.TakeBundle(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	samePreKey(t, "replaced Signed", b.Signed, key("signed", 2, true))
	samePreKey(t, "replaced last resort", b.KEM, key("last", 2, true))
	if b.OneTimeEC == nil || !b.KEMLastResort {
		t.Fatalf("bundle = %+v, want a one-time EC key and the last-resort KEM key", b)
	}
	_, err = s.PreKeyCounts(ctx, addr.Address{User: "alice", Device: 9})
	wantErr(t, "PreKeyCounts(unknown)", err, store.ErrNotFound)
	wantErr(t, "PutPreKeys(unknown)", s.PutPreKeys(ctx, addr.Address{User: "alice", Device: 9}, up), store.ErrNotFound)
}

func testPreKeyLimits(t *testing.T, e *env) {
	ctx, s := e.ctx, e.s
	a := e.user("alice")
	if err := s.PutPreKeys(ctx, a, upload(1, 1, store.MaxOneTimePreKeys-1)); err != nil {
		t.Fatal(err)
	}
	// One more EC key fits; two do not, and a refused upload stores
	// nothing, not even its signed key.
	over := upload(2, 5000, 0)
	over.OneTimeEC = oneTime("ec", 5000, 2)
	wantErr(t, "PutPreKeys over the limit", s.PutPreKeys(ctx, a, over), store.ErrLimit)
	dup := upload(3, 0, 0)
	dup.OneTimeKEM = oneTime("kem", 7, 1)
	wantErr(t, "PutPreKeys with a stored ID", s.PutPreKeys(ctx, a, dup), store.ErrLimit)
	want := store.PreKeyCounts{OneTimeEC: store.MaxOneTimePreKeys - 1, OneTimeKEM: store.MaxOneTimePreKeys - 1}
	if c := e.counts(a); c != want {
		t.Fatalf("counts after refused uploads = %+v, want %+v", c, want)
	}
	b, err := s.TakeBundle(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	samePreKey(t, "Signed after refused uploads", b.Signed, key("signed", 1, true))
	fits := store.PreKeyUpload{OneTimeEC: oneTime("ec", 5000, 2)}
	if err := s.PutPreKeys(ctx, a, fits); err != nil {
		t.Fatalf("PutPreKeys filling to the limit: %v", err)
	}
	big := store.PreKeyUpload{OneTimeKEM: oneTime("kem", 1<<20, store.MaxOneTimePreKeys+1)}
	wantErr(t, "PutPreKeys of too many keys", s.PutPreKeys(ctx, a, big), store.ErrLimit)
}

func testPreKeysBadInput(t *testing.T, e *env) {
	ctx, s := e.ctx, e.s
	a := e.user("alice")
	empty, huge := store.PreKey{ID: 1}, store.PreKey{ID: 1, Public: make([]byte, store.MaxValueLen+1), Signature: []byte("s")}
	unsigned := store.PreKey{ID: 1, Public: []byte("p")}
	bad := []store.PreKeyUpload{
		{Signed: &empty},
		{Signed: &huge},
		{Signed: &unsigned},
		{LastResortKEM: &unsigned},
		{OneTimeEC: []store.PreKey{empty}},
		{OneTimeKEM: []store.PreKey{key("kem", 1, true), key("kem", 1, true)}},
	}
	for i, up := range bad {
		wantErr(t, fmt.Sprintf("PutPreKeys(bad %d)", i), s.PutPreKeys(ctx, a, up), store.ErrInvalid)
	}
	wantErr(t, "PutPreKeys(invalid address)", s.PutPreKeys(ctx, addr.Address{User: "alice"}, upload(1, 1, 1)), store.ErrInvalid)
	_, err := s.TakeBundle(ctx, addr.Address{User: "Alice", Device: 1})
	wantErr(t, "TakeBundle(invalid address)", err, store.ErrInvalid)
	if c := e.counts(a); c != (store.PreKeyCounts{}) {
		t.Fatalf("bad uploads stored keys: %+v", c)
	}
}

// testTakeBundleConcurrent races many TakeBundle calls over fewer one-time
// keys: each key must go out exactly once, the rest get the last resort.
func testTakeBundleConcurrent(t *testing.T, e *env) {
	const keys, takers = 40, 64
	a := e.user("alice")
	putKeys(t, e, a, keys, keys)
	var mu sync.Mutex
	seenEC, seenKEM := map[uint32]int{}, map[uint32]int{}
	lastResort := 0
	var wg sync.WaitGroup
	for range takers {
		wg.Go(func() {
			b, err := e.s.TakeBundle(e.ctx, a)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if b.OneTimeEC != nil {
				seenEC[b.OneTimeEC.ID]++
			}
			if b.KEMLastResort {
				lastResort++
			} else {
				seenKEM[b.KEM.ID]++
			}
		})
	}
	wg.Wait()
	for name, seen := range map[string]map[uint32]int{"EC": seenEC, "KEM": seenKEM} {
		if len(seen) != keys {
			t.Errorf("%d distinct one-time %s keys handed out, want %d", len(seen), name, keys)
		}
		for id, n := range seen {
			if n != 1 {
				t.Errorf("one-time %s key %d handed out %d times", name, id, n)
			}
		}
	}
	if lastResort != takers-keys {
		t.Errorf("%d last-resort bundles, want %d", lastResort, takers-keys)
	}
}

// testSubmitBesideKeyWrites submits to a mailbox while its prekeys are
// taken and uploaded and its envelopes acked, all at once, so that the
// writer batches them together. Every submission must succeed and no
// Seq may be given twice, even after its envelope was acked: a key
// write that read the mailbox's counters in a batch also holding
// submissions to it once lost their advance, after which Seqs collided
// or were silently reused (and the recipient, past them, missed the
// message).
func testSubmitBesideKeyWrites(t *testing.T, e *env) {
	const submitters, each = 4, 60
	alice, bob := e.user("alice"), e.user("bob")
	putKeys(t, e, bob, 8, 8)
	var mu sync.Mutex
	seqs := map[int64]int{}
	done := make(chan struct{})
	var keysWG, wg sync.WaitGroup
	keysWG.Go(func() {
		for gen := uint32(2); ; gen++ {
			select {
			case <-done:
				return
			default:
			}
			if _, err := e.s.TakeBundle(e.ctx, bob); err != nil {
				t.Errorf("TakeBundle: %v", err)
				return
			}
			if err := e.s.PutPreKeys(e.ctx, bob, upload(gen, gen*10, 1)); err != nil {
				t.Errorf("PutPreKeys: %v", err)
				return
			}
		}
	})
	for w := range submitters {
		wg.Go(func() {
			for i := range each {
				res, err := e.s.Submit(e.ctx, []store.Envelope{msg(alice, bob, fmt.Sprint(w, i))})
				if err != nil || res[0].Err != nil {
					t.Errorf("Submit: %v %+v", err, res)
					return
				}
				mu.Lock()
				seqs[res[0].Seq]++
				mu.Unlock()
				if _, err := e.s.Ack(e.ctx, bob, []int64{res[0].Seq}); err != nil {
					t.Errorf("Ack: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(done)
	keysWG.Wait()
	if len(seqs) != submitters*each {
		t.Fatalf("%d distinct Seqs for %d envelopes", len(seqs), submitters*each)
	}
	for seq, n := range seqs {
		if n != 1 {
			t.Errorf("Seq %d given %d times", seq, n)
		}
	}
}
