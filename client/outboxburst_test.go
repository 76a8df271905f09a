package client

import (
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"parley.dev/internal/addr"
	"parley.dev/internal/vault"
)

// TestBurstRecords: sealed items stored as burst records read back as
// items in order, split so no record passes maxBurstRecord; an edit
// retires and keeps members with one rewrite per record and deletes an
// emptied record; the sweep's drop reaches a member; a failed
// transaction changes nothing.
func TestBurstRecords(t *testing.T) {
	v := testVault(t)
	t0 := time.UnixMilli(1_800_000_000_000)
	long := strings.Repeat("x", maxBurstRecord/5) // two per record
	var items []*outboxItem
	for i := range 6 {
		id := addr.NewMessageID()
		items = append(items, &outboxItem{V: recordVersion, ID: id.String(), To: "bob", Text: long,
			Ready: []readyEnvelope{{To: "bob/1", Payload: []byte{byte(i)}}}, key: outboxKey(t0.Add(time.Duration(i)), id)})
	}
	update(t, v, func(tx *vault.Tx) error { return putBursts(tx, items) })
	wantOutbox(t, v, 3, items)

	update(t, v, func(tx *vault.Tx) error {
		got, err := listOutbox(tx)
		if err != nil {
			return err
		}
		var e outboxEdit
		got[3].Ready = append(got[3].Ready, readyEnvelope{To: "bob/2", Payload: []byte("left")})
		for _, err := range []error{e.retire(tx, got[0]), e.retire(tx, got[2]), e.keep(tx, got[3])} {
			if err != nil {
				return err
			}
		}
		return e.done(tx)
	})
	items[3].Ready = append(items[3].Ready, readyEnvelope{To: "bob/2", Payload: []byte("left")})
	wantOutbox(t, v, 3, []*outboxItem{items[1], items[3], items[4], items[5]})

	update(t, v, func(tx *vault.Tx) error { return dropFromOutbox(tx, items[1].ID) })
	wantOutbox(t, v, 2, []*outboxItem{items[3], items[4], items[5]})

	boom := errors.New("boom")
	err := v.Update(func(tx *vault.Tx) error {
		got, err := listOutbox(tx)
		if err != nil {
			return err
		}
		var e outboxEdit
		for _, it := range got {
			if err := e.retire(tx, it); err != nil {
				return err
			}
		}
		if err := e.done(tx); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	wantOutbox(t, v, 2, []*outboxItem{items[3], items[4], items[5]})
}

// testVault returns a new vault, closed when the test ends.
func testVault(t *testing.T) *vault.Vault {
	t.Helper()
	v, err := vault.Create(context.Background(), t.TempDir(), []byte("123456"), vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

func update(t *testing.T, v *vault.Vault, fn func(*vault.Tx) error) {
	t.Helper()
	if err := v.Update(fn); err != nil {
		t.Fatal(err)
	}
}

// wantOutbox fails unless the outbox is records records holding want, in
// order (IDs and envelopes).
func wantOutbox(t *testing.T, v *vault.Vault, records int, want []*outboxItem) {
	t.Helper()
	recs, err := v.List(nsOutbox)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if len(r.Value) > maxBurstRecord {
			t.Errorf("a record of %d bytes, above %d", len(r.Value), maxBurstRecord)
		}
	}
	got, err := readOutbox(recs)
	if err != nil {
		t.Fatal(err)
	}
	same := func(a, b *outboxItem) bool {
		return a.ID == b.ID && slices.EqualFunc(a.Ready, b.Ready, func(x, y readyEnvelope) bool {
			return x.To == y.To && string(x.Payload) == string(y.Payload)
		})
	}
	if len(recs) != records || !slices.EqualFunc(got, want, same) {
		t.Fatalf("the outbox is %d records of %d items; want %d records of %d, in order", len(recs), len(got), records, len(want))
	}
}

// TestBurstRecordsShareHeaders: envelopes to one device that begin with
// the same bytes (a PQXDH header until the session is answered) are stored
// once per burst record and read back whole, also after the record's first
// item, their source, is retired; an envelope with other bytes (a new
// session mid-burst) stays whole; a stored record whose shared bytes have
// no source is refused.
func TestBurstRecordsShareHeaders(t *testing.T) {
	v := testVault(t)
	const n, headerLen = 100, 1700
	bobHeader, ownHeader, newHeader := randomBytes(headerLen), randomBytes(headerLen), randomBytes(headerLen)
	t0 := time.UnixMilli(1_800_000_000_000)
	var items []*outboxItem
	for i := range n {
		id := addr.NewMessageID()
		h := bobHeader
		if i == n/2 {
			h = newHeader
		}
		items = append(items, &outboxItem{V: recordVersion, ID: id.String(), To: "bob", Text: "hi",
			Ready: []readyEnvelope{
				{To: "bob/1", Payload: slices.Concat(h, randomBytes(150))},
				{To: "alice/2", Payload: slices.Concat(ownHeader, randomBytes(150))},
			}, key: outboxKey(t0.Add(time.Duration(i)), id)})
	}
	want := make([]*outboxItem, n)
	for i, it := range items {
		cp := *it
		cp.Ready = slices.Clone(it.Ready)
		want[i] = &cp
	}
	update(t, v, func(tx *vault.Tx) error { return putBursts(tx, items) })
	sameReady := func(a, b *outboxItem) bool {
		return slices.EqualFunc(a.Ready, b.Ready, func(x, y readyEnvelope) bool {
			return x.To == y.To && x.Shared == y.Shared && string(x.Payload) == string(y.Payload)
		})
	}
	if !slices.EqualFunc(items, want, sameReady) {
		t.Fatal("storing a burst changed the items in memory")
	}
	records := wantCompact(t, v, n, headerLen)
	wantOutbox(t, v, records, want)

	update(t, v, func(tx *vault.Tx) error {
		got, err := listOutbox(tx)
		if err != nil {
			return err
		}
		var e outboxEdit
		for i, it := range got {
			if i%3 == 0 || i == n/2+1 {
				if err := e.retire(tx, it); err != nil {
					return err
				}
			}
		}
		return e.done(tx)
	})
	var left []*outboxItem
	for i, it := range want {
		if i%3 != 0 && i != n/2+1 {
			left = append(left, it)
		}
	}
	wantCompact(t, v, len(left), headerLen)
	wantOutbox(t, v, records, left)

	for _, shared := range []int{headerLen + 200, -1} {
		rec := []byte(`{"v":1,"burst":[{"v":1,"id":"x","ready":[{"to":"bob/1","payload":"AAAA"},{"to":"bob/1","payload":"AAAA","shared":` +
			strconv.Itoa(shared) + `}]}]}`)
		if _, err := readOutbox([]vault.Record{{Key: "k", Value: rec}}); err == nil {
			t.Errorf("a record sharing %d bytes of a 3-byte envelope was read", shared)
		}
	}
	for _, rec := range []string{
		`{"v":1,"burst":[{"v":1,"id":"x","ready":[{"to":"bob/1","payload":"AAAA","shared":1}]}]}`,
		`{"v":1,"id":"x","ready":[{"to":"bob/1","payload":"AAAA"},{"to":"bob/1","payload":"AAAA","shared":1}]}`,
	} {
		if _, err := readOutbox([]vault.Record{{Key: "k", Value: []byte(rec)}}); err == nil {
			t.Errorf("a record sharing bytes with no source was read: %s", rec)
		}
	}
}

// wantCompact fails if the outbox's records take more bytes than n
// messages would with a header of headerLen bytes each; it returns how
// many records there are.
func wantCompact(t *testing.T, v *vault.Vault, n, headerLen int) int {
	t.Helper()
	recs, err := v.List(nsOutbox)
	if err != nil {
		t.Fatal(err)
	}
	size := 0
	for _, r := range recs {
		size += len(r.Value)
	}
	if size > n*headerLen {
		t.Fatalf("%d messages stored in %d bytes: headers stored with each", n, size)
	}
	return len(recs)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
