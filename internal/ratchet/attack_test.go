package ratchet

// Tests named for the attacks of the product brief (BRIEF.md, "Attacks we
// must resist") that the ratchet is responsible for.

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"testing"
)

// TestAttack01HugeCounter: a header asking for a huge skip is refused
// before any chain step, the state is untouched, and the store of skipped
// keys never exceeds its bound, evicting the oldest keys first.
func TestAttack01HugeCounter(t *testing.T) {
	a, b := newPair(t, nil, &testHooks{})
	decrypt(t, b, encrypt(t, a, "0"), "0") // b: receiving chain at Nr = 1
	m := encrypt(t, a, "1")
	ahead := map[string][]byte{
		"N = 2^32-1":           withHeader(m, 0, math.MaxUint32),
		"N = Nr + MaxSkip + 1": withHeader(m, 0, 1+MaxSkip+1),
	}
	// A new ratchet key (a DH step) with a huge PN or N.
	step := bytes.Clone(m)
	copy(step[offDH:], fixedKey(t, "attacker", 0).PublicKey().Bytes())
	ahead["DH step, PN = 2^32-1"] = withHeader(step, math.MaxUint32, 0)
	ahead["DH step, PN = Nr + MaxSkip + 1"] = withHeader(step, 1+MaxSkip+1, 0)
	ahead["DH step, N = 2^32-1"] = withHeader(step, 1, math.MaxUint32)
	ahead["DH step, N = MaxSkip + 1"] = withHeader(step, 1, MaxSkip+1)
	for name, f := range ahead {
		b.test.chainSteps = 0
		rejects(t, b, f, nil, ErrTooFarAhead)
		if b.test.chainSteps != 0 {
			t.Errorf("%s: %d chain steps before rejecting, want 0", name, b.test.chainSteps)
		}
	}
	// At the bound a forged header costs exactly the allowed work. With a
	// new ratchet key the old chain is walked only once the message opens.
	for name, f := range map[string][]byte{
		"in chain": withHeader(m, 0, 1+MaxSkip),
		"DH step":  withHeader(step, 1+MaxSkip, MaxSkip),
	} {
		b.test.chainSteps = 0
		rejects(t, b, f, nil, ErrDecrypt)
		if b.test.chainSteps != MaxSkip+1 {
			t.Errorf("forged %s at the bound: %d chain steps, want %d", name, b.test.chainSteps, MaxSkip+1)
		}
	}
	decrypt(t, b, m, "1")
}

func TestAttack01SkippedKeyStoreBounded(t *testing.T) {
	a, b := newPair(t, nil, nil)
	const perChain = 1500
	var first [][]byte
	for i := range perChain {
		first = append(first, encrypt(t, a, fmt.Sprint("first ", i)))
	}
	decrypt(t, b, first[perChain-1], fmt.Sprint("first ", perChain-1))
	if n := b.skipped.len(); n != perChain-1 {
		t.Fatalf("%d skipped keys, want %d", n, perChain-1)
	}
	decrypt(t, a, encrypt(t, b, "reply"), "reply")
	var second [][]byte
	for i := range perChain {
		second = append(second, encrypt(t, a, fmt.Sprint("second ", i)))
	}
	decrypt(t, b, second[perChain-1], fmt.Sprint("second ", perChain-1))
	if n := b.skipped.len(); n != MaxSkippedKeys {
		t.Fatalf("%d skipped keys, want the bound %d", n, MaxSkippedKeys)
	}
	// 2*1499 keys were stored; the oldest 998 (all from the first chain) went.
	evicted := 2*(perChain-1) - MaxSkippedKeys
	before := marshal(t, b)
	for i := range evicted {
		if _, err := b.Decrypt(first[i], nil); !errors.Is(err, ErrDuplicate) {
			t.Fatalf("evicted message %d: %v, want ErrDuplicate", i, err)
		}
	}
	if !bytes.Equal(before, marshal(t, b)) {
		t.Fatal("state changed by messages whose keys were evicted")
	}
	decrypt(t, b, first[evicted], fmt.Sprint("first ", evicted))
	decrypt(t, b, second[0], "second 0")
	if n := b.skipped.len(); n != MaxSkippedKeys-2 {
		t.Fatalf("%d skipped keys after two were used, want %d", n, MaxSkippedKeys-2)
	}
	// A survivor of a serialization round trip is still evicted oldest first.
	b = clone(t, b)
	var third [][]byte
	decrypt(t, a, encrypt(t, b, "reply 2"), "reply 2")
	for i := range 11 {
		third = append(third, encrypt(t, a, fmt.Sprint("third ", i)))
	}
	decrypt(t, b, third[10], "third 10") // stores 10 more; evicts the 8 oldest
	if n := b.skipped.len(); n != MaxSkippedKeys {
		t.Fatalf("%d skipped keys, want %d", n, MaxSkippedKeys)
	}
	for i := evicted + 1; i < evicted+1+8; i++ {
		rejects(t, b, first[i], nil, ErrDuplicate)
	}
	decrypt(t, b, first[evicted+9], fmt.Sprint("first ", evicted+9))
	decrypt(t, b, third[0], "third 0")
}

// TestAttack02Replay: every replay, including of the session's first
// message and of messages that were decrypted from the skipped-key store,
// is ErrDuplicate and changes nothing, before and after a restart.
func TestAttack02Replay(t *testing.T) {
	a, b := newPair(t, nil, nil)
	m0, m1, m2 := encrypt(t, a, "0"), encrypt(t, a, "1"), encrypt(t, a, "2")
	decrypt(t, b, m0, "0")
	decrypt(t, b, m2, "2") // m1 skipped
	decrypt(t, b, m1, "1") // from the store
	r0 := encrypt(t, b, "r0")
	decrypt(t, a, r0, "r0")
	m3 := encrypt(t, a, "3") // new chain: m0..m2's chain is now history
	decrypt(t, b, m3, "3")
	all := [][]byte{m0, m1, m2, m3}
	for i, m := range all {
		rejects(t, b, m, nil, ErrDuplicate)
		t.Logf("replay %d rejected", i)
	}
	rejects(t, a, r0, nil, ErrDuplicate)
	b, a = clone(t, b), clone(t, a) // restart
	for _, m := range all {
		rejects(t, b, m, nil, ErrDuplicate)
	}
	rejects(t, a, r0, nil, ErrDuplicate)
	decrypt(t, b, encrypt(t, a, "4"), "4")
}

// TestReplayBeyondHistory documents the bound: once the peer's ratchet key
// has left the history, a replay from its chain cannot be classified and
// fails as ErrDecrypt, still without changing the state.
func TestReplayBeyondHistory(t *testing.T) {
	a, b := newPair(t, nil, nil)
	first := encrypt(t, a, "first")
	decrypt(t, b, first, "first")
	// Each round trip is a DH step at b, which pushes a's previous key.
	for i := range MaxRemoteKeyHistory + 1 {
		decrypt(t, a, encrypt(t, b, "b"), "b")
		decrypt(t, b, encrypt(t, a, "a"), "a")
		if i == MaxRemoteKeyHistory-1 {
			rejects(t, b, first, nil, ErrDuplicate) // the 64th push: still remembered
		}
	}
	if len(b.history.keys) != MaxRemoteKeyHistory {
		t.Fatalf("history holds %d keys, want %d", len(b.history.keys), MaxRemoteKeyHistory)
	}
	rejects(t, b, first, nil, ErrDecrypt)
}

// TestAttack09ExtraADBinding: the caller's extraAD, the session's
// associated data and the header are all bound into the AEAD.
func TestAttack09ExtraADBinding(t *testing.T) {
	a, b := newPair(t, nil, nil)
	m, err := a.Encrypt([]byte("typed"), []byte("type-1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, wrong := range [][]byte{[]byte("type-2"), nil, []byte("type-1\x00"), []byte("type-")} {
		rejects(t, b, m, wrong, ErrDecrypt)
	}
	// Another session with the same keys but other associated data.
	spk := fixedKey(t, "responder signed prekey", 0)
	other, err := NewResponder(testSK, []byte("other session"), spk)
	if err != nil {
		t.Fatal(err)
	}
	rejects(t, other, m, []byte("type-1"), ErrDecrypt)
	if pt, err := b.Decrypt(m, []byte("type-1")); err != nil || string(pt) != "typed" {
		t.Fatalf("right extraAD: %q, %v", pt, err)
	}
	// The encoding keeps part boundaries: moving bytes between parts changes it.
	x := associatedData([]byte("ab"), []byte("h"), []byte("c"))
	y := associatedData([]byte("a"), []byte("bh"), []byte("c"))
	z := associatedData([]byte("ab"), []byte("hc"), nil)
	if bytes.Equal(x, y) || bytes.Equal(x, z) || bytes.Equal(y, z) {
		t.Fatal("associated data encoding is ambiguous")
	}
}

// TestAttack14MalformedMessages: every truncation, a bit flip at every byte
// position, and oversized input give a clear error, no panic and no state
// change; the genuine message still decrypts afterwards.
func TestAttack14MalformedMessages(t *testing.T) {
	a, b := newPair(t, nil, nil)
	decrypt(t, b, encrypt(t, a, "warm up"), "warm up")
	for _, dhStep := range []bool{false, true} {
		if dhStep { // the next message from a carries a new ratchet key
			decrypt(t, a, encrypt(t, b, "reply"), "reply")
		}
		m := encrypt(t, a, "the genuine message")
		for n := range len(m) {
			rejects(t, b, m[:n], nil, nil)
		}
		for i := range m {
			for bit := range 8 {
				if i >= HeaderLen && bit > 0 {
					break // one flip per ciphertext byte, every bit of the header
				}
				f := bytes.Clone(m)
				f[i] ^= 1 << bit
				rejects(t, b, f, nil, nil)
			}
		}
		rejects(t, b, append(bytes.Clone(m), 0), nil, ErrDecrypt)
		rejects(t, b, append(bytes.Clone(m), make([]byte, MaxMessageLen)...), nil, ErrTooLarge)
		rejects(t, b, nil, nil, ErrMalformed)
		v := bytes.Clone(m)
		v[offVersion] = MessageVersion + 1
		rejects(t, b, v, nil, ErrVersion)
		decrypt(t, b, m, "the genuine message")
	}
}

// TestAttack10RefusesVersion1: messages of version 1 (no salt) are refused
// whatever their layout, with no downgrade path and no state change.
func TestAttack10RefusesVersion1(t *testing.T) {
	a, b := newPair(t, nil, nil)
	m := encrypt(t, a, "a version 2 message")
	relabelled := bytes.Clone(m)
	relabelled[offVersion] = 1
	rejects(t, b, relabelled, nil, ErrVersion)
	// The version 1 layout: the same header without the salt.
	v1 := append(bytes.Clone(relabelled[:offSalt]), m[HeaderLen:]...)
	rejects(t, b, v1, nil, ErrVersion)
	decrypt(t, b, m, "a version 2 message")
}

// TestForgeryUnderPreKey: before the initiator has received anything, it
// knows the responder's prekey but has no receiving chain for it. A message
// under that key must not be decrypted with an empty (all-zero) chain key,
// which anyone can compute.
func TestForgeryUnderPreKey(t *testing.T) {
	a, _ := newPair(t, nil, nil)
	var zero secret
	mk, _ := kdfCK(&zero)
	h := header{dh: a.dhr}
	forged := make([]byte, HeaderLen)
	h.put(forged)
	forged = seal(&mk, &h.salt, forged, []byte("forged"), associatedData(a.ad, forged, nil))
	rejects(t, a, forged, nil, ErrDecrypt)
}

// rollback is the outcome of a sender that seals message A, is restored
// from the copy of its state saved before A, and seals message B: both
// under the same ratchet key and counter.
type rollback struct {
	ptA, ptB, mA, mB []byte
	keysA, keysB     []byte // AES key || nonce each message was sealed under
}

// rollBack runs that scenario on a running session a -> b. hooks, if not
// nil, replace the restored copy's randomness. The AES keys and nonces are
// recomputed from the saved state's next message key and each header's
// salt, and checked to be the ones that open the messages.
func rollBack(t *testing.T, a *State, hooks *testHooks) rollback {
	t.Helper()
	saved := marshal(t, a)
	r := rollback{ptA: []byte("attack at dawn"), ptB: []byte("attack at dusk")}
	r.mA = encrypt(t, a, string(r.ptA))
	old, err := Unmarshal(saved)
	if err != nil {
		t.Fatal(err)
	}
	old.test = hooks
	r.mB = encrypt(t, old, string(r.ptB))
	hA, errA := parseHeader(r.mA)
	hB, errB := parseHeader(r.mB)
	if errA != nil || errB != nil || hA.dh != hB.dh || hA.pn != hB.pn || hA.n != hB.n {
		t.Fatalf("the restored copy did not reuse the ratchet key and counter: %v, %v", errA, errB)
	}
	s, err := Unmarshal(saved)
	if err != nil {
		t.Fatal(err)
	}
	mk, _ := kdfCK(&s.cks)
	for _, m := range []struct {
		msg  []byte
		salt *messageSalt
		keys *[]byte
	}{{r.mA, &hA.salt, &r.keysA}, {r.mB, &hB.salt, &r.keysB}} {
		*m.keys = messageKeys(&mk, m.salt)
		if _, err := open(&mk, m.salt, m.msg[HeaderLen:], associatedData(s.ad, m.msg[:HeaderLen], nil)); err != nil {
			t.Fatalf("the recomputed message key does not open the message: %v", err)
		}
	}
	return r
}

// xorReuse reports whether the two ciphertexts XOR to the plaintexts' XOR:
// the keystream was reused.
func (r *rollback) xorReuse() bool {
	ctA, ctB := r.mA[HeaderLen:len(r.mA)-tagSize], r.mB[HeaderLen:len(r.mB)-tagSize]
	for i := range r.ptA {
		if ctA[i]^ctB[i] != r.ptA[i]^r.ptB[i] {
			return false
		}
	}
	return true
}

// TestAttack13RollbackNoKeyNonceReuse: a sender restored from an older copy
// of its state (a backup, a rolled-back vault, a VM snapshot) re-derives
// the message key of a counter it already used, but seals the new message
// under a fresh salt, hence under another AES key and nonce: no keystream
// is reused. The receiver accepts whichever of the two messages arrives
// first and drops the other as ErrDuplicate.
func TestAttack13RollbackNoKeyNonceReuse(t *testing.T) {
	a, b := newPair(t, nil, nil)
	decrypt(t, b, encrypt(t, a, "hello"), "hello")
	decrypt(t, a, encrypt(t, b, "hi"), "hi")
	decrypt(t, b, encrypt(t, a, "before the backup"), "before the backup")
	r := rollBack(t, a, nil)
	if bytes.Equal(r.keysA[:aeadKeySize], r.keysB[:aeadKeySize]) {
		t.Error("the restored copy sealed under the same AES key")
	}
	if bytes.Equal(r.keysA[aeadKeySize:], r.keysB[aeadKeySize:]) {
		t.Error("the restored copy sealed under the same nonce")
	}
	if r.xorReuse() {
		t.Error("the ciphertexts XOR to the plaintexts' XOR: keystream reused")
	}
	for _, order := range [][2][]byte{{r.mA, r.mB}, {r.mB, r.mA}} {
		recv := clone(t, b)
		if _, err := recv.Decrypt(order[0], nil); err != nil {
			t.Fatalf("first of the two messages: %v", err)
		}
		rejects(t, recv, order[1], nil, ErrDuplicate)
	}

	// The same check on the old design (no salt; a zero salt derives the
	// same keys as an empty one) finds the reuse, so the test can fail.
	zero := &testHooks{salt: func(s *messageSalt) { clear(s[:]) }}
	a.test = zero
	r = rollBack(t, a, zero)
	if !bytes.Equal(r.keysA, r.keysB) || !r.xorReuse() {
		t.Fatal("without a salt the rollback should reuse the key and nonce; the test proves nothing")
	}
}
