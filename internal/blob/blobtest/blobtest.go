// Package blobtest is the conformance suite for blob.Store: every backend
// runs Run and must pass all of it.
package blobtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"parley.dev/internal/addr"
	"parley.dev/internal/blob"
	"parley.dev/internal/store/storetest"
)

// Backend is the store under test.
type Backend struct {
	// Open opens the store named key: the first open finds it empty, a
	// later one (after Close) the same data. Keys are [a-z0-9_], unique
	// per process. The suite closes every store it opens.
	Open func(t *testing.T, key string, opt blob.Options) blob.Store
	// Residue reports whether any byte of blob id's contents remains
	// where the backend keeps them (a file, rows), after Delete or Expire.
	Residue func(t *testing.T, key string, id blob.ID) bool
}

// Run runs the suite.
func Run(t *testing.T, b Backend) {
	tests := map[string]func(*testing.T, *env){
		"UploadDownload":      testUploadDownload,
		"OffsetAndSize":       testOffsetAndSize,
		"PartIsAllOrNothing":  testPartAllOrNothing,
		"Finish":              testFinish,
		"Quota":               testQuota,
		"QuotaConcurrent":     testQuotaConcurrent,
		"ConcurrentAppends":   testConcurrentAppends,
		"ListIsPerUser":       testListPerUser,
		"ExpireRemovesAll":    testExpire,
		"Delete":              testDelete,
		"DeleteUser":          testDeleteUser,
		"RestartResumes":      testRestart,
		"Secret":              testSecret,
		"UnfinishedNotServed": testUnfinishedNotServed,
		"Closed":              testClosed,
	}
	for name, fn := range tests {
		t.Run(name, func(t *testing.T) { fn(t, newEnv(t, b)) })
	}
}

var counter atomic.Int64

type env struct {
	t     *testing.T
	b     Backend
	key   string
	clock *storetest.Clock
	s     blob.Store
}

func newEnv(t *testing.T, b Backend) *env {
	e := &env{t: t, b: b, clock: storetest.NewClock(storetest.Epoch)}
	e.key = fmt.Sprintf("blobtest_%d_%x", counter.Add(1), randomBytes(4))
	e.s = e.open()
	return e
}

func (e *env) open() blob.Store {
	s := e.b.Open(e.t, e.key, blob.Options{Now: e.clock.Now, LeaseTTL: time.Minute})
	e.t.Cleanup(func() { s.Close() })
	return s
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

var (
	alice = addr.Address{User: "alice", Device: 1}
	bob   = addr.Address{User: "bob", Device: 1}
	roomy = blob.Limits{Quota: 1 << 30, MaxBlobs: 100}
)

// create makes a blob of size bytes for owner.
func (e *env) create(owner addr.Address, size int64) blob.ID {
	e.t.Helper()
	id := blob.NewID()
	now := e.clock.Now()
	if err := e.s.Create(context.Background(), blob.Blob{ID: id, Owner: owner, Size: size, Created: now, Expires: now.Add(time.Hour)}, roomy); err != nil {
		e.t.Fatalf("Create: %v", err)
	}
	return id
}

func (e *env) append(id blob.ID, off int64, data []byte) (blob.Blob, error) {
	return e.s.Append(context.Background(), id, off, bytes.NewReader(data), int64(len(data)), nil)
}

// upload stores data in parts of part bytes and finishes the blob.
func (e *env) upload(owner addr.Address, data []byte, part int) blob.ID {
	e.t.Helper()
	id := e.create(owner, int64(len(data)))
	for off := 0; off < len(data); off += part {
		end := min(off+part, len(data))
		if _, err := e.append(id, int64(off), data[off:end]); err != nil {
			e.t.Fatalf("Append at %d: %v", off, err)
		}
	}
	if _, err := e.s.Finish(context.Background(), id, sha256.Sum256(data), e.clock.Now().Add(time.Hour)); err != nil {
		e.t.Fatalf("Finish: %v", err)
	}
	return id
}

func (e *env) download(id blob.ID) []byte {
	e.t.Helper()
	r, err := e.s.Open(context.Background(), id)
	if err != nil {
		e.t.Fatalf("Open: %v", err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		e.t.Fatalf("read: %v", err)
	}
	return b
}

func testUploadDownload(t *testing.T, e *env) {
	data := randomBytes(3<<20 + 12345) // more than one PostgreSQL row
	id := e.upload(alice, data, 1<<20+7)
	if got := e.download(id); !bytes.Equal(got, data) {
		t.Fatalf("downloaded %d bytes, differ from the %d uploaded", len(got), len(data))
	}
	r, err := e.s.Open(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Blob.SHA256 != sha256.Sum256(data) || !r.Blob.Done || r.Blob.Size != int64(len(data)) || r.Blob.Owner != alice {
		t.Fatalf("reader's blob = %+v", r.Blob)
	}
	for _, off := range []int64{0, 1<<20 - 1, 1 << 20, 2<<20 + 5, int64(len(data)) - 3} {
		if _, err := r.Seek(off, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 3)
		if _, err := io.ReadFull(r, buf); err != nil || !bytes.Equal(buf, data[off:off+3]) {
			t.Fatalf("range at %d: %v", off, err)
		}
	}
}

func testOffsetAndSize(t *testing.T, e *env) {
	id := e.create(alice, 100)
	if _, err := e.append(id, 0, make([]byte, 40)); err != nil {
		t.Fatal(err)
	}
	var oe *blob.OffsetError
	if _, err := e.append(id, 0, make([]byte, 10)); !errors.As(err, &oe) || oe.Stored != 40 {
		t.Fatalf("append at a stale offset: %v, want OffsetError{40}", err)
	}
	if _, err := e.append(id, 50, make([]byte, 10)); !errors.As(err, &oe) || oe.Stored != 40 {
		t.Fatalf("append past the end: %v", err)
	}
	if _, err := e.append(id, 40, make([]byte, 61)); !errors.Is(err, blob.ErrTooLarge) {
		t.Fatalf("append beyond the declared size: %v", err)
	}
	if b, err := e.s.Stat(context.Background(), id); err != nil || b.Stored != 40 || b.Done {
		t.Fatalf("Stat = %+v, %v", b, err)
	}
	if _, err := e.s.Stat(context.Background(), blob.NewID()); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Stat of an unknown ID: %v", err)
	}
}

func testPartAllOrNothing(t *testing.T, e *env) {
	data := randomBytes(1000)
	id := e.create(alice, 1000)
	ctx := context.Background()
	// a body cut short
	if _, err := e.s.Append(ctx, id, 0, bytes.NewReader(data[:300]), 500, nil); !errors.Is(err, blob.ErrShort) {
		t.Fatalf("short part: %v", err)
	}
	// a part its verifier refuses
	refuse := errors.New("bad MAC")
	var seen [32]byte
	_, err := e.s.Append(ctx, id, 0, bytes.NewReader(data[:500]), 500, func(sum [32]byte) error { seen = sum; return refuse })
	if !errors.Is(err, refuse) || seen != sha256.Sum256(data[:500]) {
		t.Fatalf("refused part: %v (verify saw the part's hash: %v)", err, seen == sha256.Sum256(data[:500]))
	}
	if b, _ := e.s.Stat(ctx, id); b.Stored != 0 {
		t.Fatalf("a failed part left %d bytes stored", b.Stored)
	}
	// garbage bytes of the failed parts must not survive into the blob
	if _, err := e.append(id, 0, data[:500]); err != nil {
		t.Fatal(err)
	}
	if _, err := e.append(id, 500, data[500:]); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Finish(ctx, id, sha256.Sum256(data), e.clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(e.download(id), data) {
		t.Fatal("content differs after failed parts")
	}
}

func testFinish(t *testing.T, e *env) {
	ctx := context.Background()
	data := randomBytes(100)
	id := e.create(alice, 100)
	exp := e.clock.Now().Add(48 * time.Hour)
	if _, err := e.append(id, 0, data[:60]); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Finish(ctx, id, sha256.Sum256(data), exp); !errors.Is(err, blob.ErrIncomplete) {
		t.Fatalf("Finish of a partial blob: %v", err)
	}
	if _, err := e.append(id, 60, data[60:]); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Finish(ctx, id, sha256.Sum256(data[1:]), exp); !errors.Is(err, blob.ErrMismatch) {
		t.Fatalf("Finish with a wrong hash: %v", err)
	}
	b, err := e.s.Finish(ctx, id, sha256.Sum256(data), exp)
	if err != nil || !b.Done || !b.Expires.Equal(exp) {
		t.Fatalf("Finish = %+v, %v", b, err)
	}
	if _, err := e.s.Finish(ctx, id, sha256.Sum256(data), exp); !errors.Is(err, blob.ErrFinished) {
		t.Fatalf("second Finish: %v", err)
	}
	if _, err := e.append(id, 100, []byte{1}); err == nil {
		t.Fatal("append to a finished blob succeeded")
	}
}

func testQuota(t *testing.T, e *env) {
	ctx := context.Background()
	lim := blob.Limits{Quota: 1000, MaxBlobs: 3}
	now := e.clock.Now()
	mk := func(owner addr.Address, size int64) (blob.ID, error) {
		id := blob.NewID()
		return id, e.s.Create(ctx, blob.Blob{ID: id, Owner: owner, Size: size, Created: now, Expires: now.Add(time.Hour)}, lim)
	}
	first, err := mk(alice, 600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mk(alice, 401); !errors.Is(err, blob.ErrQuota) {
		t.Fatalf("over the byte quota: %v", err)
	}
	if _, err := mk(addr.Address{User: "alice", Device: 2}, 401); !errors.Is(err, blob.ErrQuota) {
		t.Fatalf("another device of the same user escaped the quota: %v", err)
	}
	if _, err := mk(bob, 1000); err != nil {
		t.Fatalf("another user's quota is separate: %v", err)
	}
	mk(alice, 100)
	mk(alice, 100)
	if _, err := mk(alice, 1); !errors.Is(err, blob.ErrQuota) {
		t.Fatalf("over the blob count: %v", err)
	}
	if u, err := e.s.Usage(ctx, "alice"); err != nil || u.Bytes != 800 || u.Blobs != 3 {
		t.Fatalf("Usage = %+v, %v", u, err)
	}
	if err := e.s.Delete(ctx, first); err != nil {
		t.Fatal(err)
	}
	if _, err := mk(alice, 200); err != nil {
		t.Fatalf("Delete did not give the quota back: %v", err)
	}
	if _, err := mk(alice, 0); !errors.Is(err, blob.ErrInvalid) {
		t.Fatalf("empty blob: %v", err)
	}
}

func testQuotaConcurrent(t *testing.T, e *env) {
	lim := blob.Limits{Quota: 1000, MaxBlobs: 100}
	now := e.clock.Now()
	var ok atomic.Int64
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			id := blob.NewID()
			if e.s.Create(context.Background(), blob.Blob{ID: id, Owner: alice, Size: 100, Created: now, Expires: now.Add(time.Hour)}, lim) == nil {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 10 {
		t.Fatalf("%d concurrent creates of 100 bytes fit a 1000-byte quota, want 10", ok.Load())
	}
}

func testConcurrentAppends(t *testing.T, e *env) {
	data := randomBytes(200_000)
	id := e.create(alice, int64(len(data)))
	var wins atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, err := e.append(id, 0, data[:100_000]); err == nil {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d concurrent appends at one offset succeeded, want 1", wins.Load())
	}
	if _, err := e.append(id, 100_000, data[100_000:]); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Finish(context.Background(), id, sha256.Sum256(data), e.clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(e.download(id), data) {
		t.Fatal("content differs")
	}
}

func testListPerUser(t *testing.T, e *env) {
	a1 := e.upload(alice, []byte("one"), 10)
	e.clock.Advance(time.Second)
	a2 := e.create(addr.Address{User: "alice", Device: 2}, 10)
	e.upload(bob, []byte("bob's"), 10)
	got, err := e.s.List(context.Background(), "alice")
	if err != nil || len(got) != 2 || got[0].ID != a1 || got[1].ID != a2 {
		t.Fatalf("List(alice) = %v, %v", got, err)
	}
	for _, b := range got {
		if b.Owner.User != "alice" {
			t.Fatalf("List(alice) holds %s's blob", b.Owner)
		}
	}
	if got, _ := e.s.List(context.Background(), "carol"); len(got) != 0 {
		t.Fatalf("List(carol) = %v", got)
	}
}

func testExpire(t *testing.T, e *env) {
	ctx := context.Background()
	old := e.upload(alice, randomBytes(5000), 1000)
	partial := e.create(alice, 5000)
	e.append(partial, 0, randomBytes(1000))
	e.clock.Advance(30 * time.Minute)
	young := e.upload(alice, randomBytes(100), 100)
	e.clock.Advance(45 * time.Minute) // old and partial are past their hour
	if _, err := e.s.Stat(ctx, old); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("an expired blob is still served before the sweep: %v", err)
	}
	n, err := e.s.Expire(ctx, e.clock.Now(), 100)
	if err != nil || n != 2 {
		t.Fatalf("Expire = %d, %v; want 2", n, err)
	}
	if n, err := e.s.Expire(ctx, e.clock.Now(), 100); err != nil || n != 0 {
		t.Fatalf("Expire again = %d, %v: the expired rows are still in the database", n, err)
	}
	for _, id := range []blob.ID{old, partial} {
		if e.b.Residue(t, e.key, id) {
			t.Errorf("expired blob %s left contents behind", id)
		}
		if _, err := e.s.Open(ctx, id); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("expired blob opens: %v", err)
		}
	}
	if e.b.Residue(t, e.key, young) == false {
		t.Error("Residue does not see a live blob: the check cannot fail")
	}
	if u, _ := e.s.Usage(ctx, "alice"); u.Bytes != 100 || u.Blobs != 1 {
		t.Fatalf("usage after expiry = %+v", u)
	}
	if got, _ := e.s.List(ctx, "alice"); len(got) != 1 || got[0].ID != young {
		t.Fatalf("List after expiry = %v", got)
	}
}

func testDelete(t *testing.T, e *env) {
	id := e.upload(alice, randomBytes(3000), 1000)
	if err := e.s.Delete(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if e.b.Residue(t, e.key, id) {
		t.Fatal("deleted blob left contents behind")
	}
	if err := e.s.Delete(context.Background(), id); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("second Delete: %v", err)
	}
}

func testDeleteUser(t *testing.T, e *env) {
	ctx := context.Background()
	done := e.upload(alice, randomBytes(3000), 1000)
	partial := e.create(alice, 5000)
	kept := e.upload(bob, randomBytes(100), 100)
	n, err := e.s.DeleteUser(ctx, alice.User)
	if err != nil || n != 2 {
		t.Fatalf("DeleteUser = %d, %v; want 2", n, err)
	}
	for _, id := range []blob.ID{done, partial} {
		if _, err := e.s.Stat(ctx, id); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("Stat after DeleteUser: %v", err)
		}
		if e.b.Residue(t, e.key, id) {
			t.Fatal("DeleteUser left contents behind")
		}
	}
	if u, err := e.s.Usage(ctx, alice.User); err != nil || u != (blob.Usage{}) {
		t.Fatalf("usage after DeleteUser: %+v, %v", u, err)
	}
	if _, err := e.s.Stat(ctx, kept); err != nil {
		t.Fatalf("another user's blob: %v", err)
	}
	if n, err := e.s.DeleteUser(ctx, alice.User); err != nil || n != 0 {
		t.Fatalf("second DeleteUser = %d, %v", n, err)
	}
}

func testRestart(t *testing.T, e *env) {
	data := randomBytes(10_000)
	done := e.upload(alice, data, 3000)
	partial := e.create(alice, 10_000)
	if _, err := e.append(partial, 0, data[:4000]); err != nil {
		t.Fatal(err)
	}
	e.s.Close()
	e.s = e.open()
	if !bytes.Equal(e.download(done), data) {
		t.Fatal("finished blob differs after a restart")
	}
	b, err := e.s.Stat(context.Background(), partial)
	if err != nil || b.Stored != 4000 {
		t.Fatalf("partial blob after restart: %+v, %v", b, err)
	}
	if _, err := e.append(partial, 4000, data[4000:]); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Finish(context.Background(), partial, sha256.Sum256(data), e.clock.Now().Add(time.Hour)); err != nil {
		t.Fatalf("Finish after resuming: %v", err)
	}
	if !bytes.Equal(e.download(partial), data) {
		t.Fatal("resumed blob differs")
	}
}

func testSecret(t *testing.T, e *env) {
	a, err := e.s.Secret(context.Background())
	if err != nil || a == [32]byte{} {
		t.Fatalf("Secret = %x, %v", a, err)
	}
	e.s.Close()
	e.s = e.open()
	if b, _ := e.s.Secret(context.Background()); b != a {
		t.Fatal("the secret changed across a restart")
	}
}

func testUnfinishedNotServed(t *testing.T, e *env) {
	id := e.create(alice, 10)
	e.append(id, 0, make([]byte, 10))
	if _, err := e.s.Open(context.Background(), id); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Open of an unfinished blob: %v", err)
	}
}

func testClosed(t *testing.T, e *env) {
	e.s.Close()
	if _, err := e.s.Stat(context.Background(), blob.NewID()); !errors.Is(err, blob.ErrClosed) {
		t.Fatalf("Stat after Close: %v", err)
	}
}
