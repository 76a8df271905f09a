package vault

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	v, _ := newVault(t, Options{})
	mustPut(t, v, "contacts", "alice", "Alice A.")
	mustPut(t, v, "contacts", "bob", "Bob B.")
	mustPut(t, v, "settings", "alice", "other namespace")
	mustGet(t, v, "contacts", "alice", "Alice A.")
	mustGet(t, v, "settings", "alice", "other namespace")

	mustPut(t, v, "contacts", "alice", "Alice, renamed")
	mustGet(t, v, "contacts", "alice", "Alice, renamed")

	mustPut(t, v, "settings", "", "")       // empty key and value
	mustPut(t, v, "bin", "\x00\xff\n", "x") // binary key
	mustGet(t, v, "settings", "", "")
	mustGet(t, v, "bin", "\x00\xff\n", "x")

	if err := v.Delete("contacts", "bob"); err != nil {
		t.Fatal(err)
	}
	_, err := v.Get("contacts", "bob")
	wantErr(t, err, ErrNotFound)
	if err := v.Delete("contacts", "bob"); err != nil {
		t.Fatalf("deleting a missing record: %v", err)
	}
	_, err = v.Get("nobody", "here")
	wantErr(t, err, ErrNotFound)
}

func TestGetReturnsEmptyNotNil(t *testing.T) {
	v, _ := newVault(t, Options{})
	mustPut(t, v, "ns", "k", "")
	got, err := v.Get("ns", "k")
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("Get = %q (nil %v), %v; want empty non-nil", got, got == nil, err)
	}
}

func TestListSortedPerNamespace(t *testing.T) {
	v, _ := newVault(t, Options{})
	for _, k := range []string{"m", "a", "z", "b"} {
		mustPut(t, v, "history", k, "v-"+k)
	}
	mustPut(t, v, "historyX", "c", "not mine")
	recs, err := v.List("history")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, r.Key+"="+string(r.Value))
	}
	if want := "a=v-a b=v-b m=v-m z=v-z"; strings.Join(got, " ") != want {
		t.Fatalf("List = %v, want %s", got, want)
	}
	recs, err = v.List("empty")
	if err != nil || len(recs) != 0 {
		t.Fatalf("List(empty) = %v, %v", recs, err)
	}
}

func TestReopenAfterClose(t *testing.T) {
	v, dir := newVault(t, Options{})
	mustPut(t, v, "sessions", "bob/1", "state-1")
	if err := v.Update(func(tx *Tx) error {
		return tx.Put("history", "m1", []byte("hello"))
	}); err != nil {
		t.Fatal(err)
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	v2 := mustOpen(t, dir, testPIN, Options{})
	mustGet(t, v2, "sessions", "bob/1", "state-1")
	mustGet(t, v2, "history", "m1", "hello")
	mustPut(t, v2, "sessions", "bob/1", "state-2")
	v2.Close()
	v3 := mustOpen(t, dir, testPIN, Options{})
	mustGet(t, v3, "sessions", "bob/1", "state-2")
}

func TestUpdateCommitsAllOrNothing(t *testing.T) {
	v, dir := newVault(t, Options{})
	mustPut(t, v, "sessions", "bob/1", "old-state")
	// One received message: history, new session state, dedupe marker.
	err := v.Update(func(tx *Tx) error {
		if err := tx.Put("history", "m1", []byte("hi")); err != nil {
			return err
		}
		if got, err := tx.Get("history", "m1"); err != nil || string(got) != "hi" {
			return fmt.Errorf("tx does not read its own write: %q, %v", got, err)
		}
		if err := tx.Put("sessions", "bob/1", []byte("new-state")); err != nil {
			return err
		}
		return tx.Put("seen", "m1", nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err = v.Update(func(tx *Tx) error {
		tx.Put("history", "m2", []byte("lost"))
		tx.Put("sessions", "bob/1", []byte("lost-state"))
		tx.Delete("seen", "m1")
		return boom
	})
	wantErr(t, err, boom)
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("panic was swallowed")
			}
		}()
		v.Update(func(tx *Tx) error {
			tx.Put("history", "m3", []byte("lost"))
			panic("boom")
		})
	}()
	v.Close()
	v = mustOpen(t, dir, testPIN, Options{})
	mustGet(t, v, "history", "m1", "hi")
	mustGet(t, v, "sessions", "bob/1", "new-state")
	mustGet(t, v, "seen", "m1", "")
	for _, k := range []string{"m2", "m3"} {
		_, err := v.Get("history", k)
		wantErr(t, err, ErrNotFound)
	}
}

func TestTxUnusableAfterUpdate(t *testing.T) {
	v, _ := newVault(t, Options{})
	var kept *Tx
	if err := v.Update(func(tx *Tx) error { kept = tx; return nil }); err != nil {
		t.Fatal(err)
	}
	wantErr(t, kept.Put("ns", "k", nil), ErrClosed)
	_, err := kept.Get("ns", "k")
	wantErr(t, err, ErrClosed)
	_, err = v.Get("ns", "k")
	wantErr(t, err, ErrNotFound)
}

func TestClosed(t *testing.T) {
	v, _ := newVault(t, Options{})
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	if err := v.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	wantErr(t, v.Put("ns", "k", nil), ErrClosed)
	_, err := v.Get("ns", "k")
	wantErr(t, err, ErrClosed)
	_, err = v.List("ns")
	wantErr(t, err, ErrClosed)
	wantErr(t, v.Delete("ns", "k"), ErrClosed)
	wantErr(t, v.Update(func(*Tx) error { return nil }), ErrClosed)
	wantErr(t, v.ChangePIN(context.Background(), testPIN, otherPIN), ErrClosed)
}

func TestLimits(t *testing.T) {
	v, _ := newVault(t, Options{})
	long := func(n int) string { return strings.Repeat("x", n) }
	mustPut(t, v, long(MaxNamespaceLen), long(MaxKeyLen), "at the limits")
	mustGet(t, v, long(MaxNamespaceLen), long(MaxKeyLen), "at the limits")
	wantErr(t, v.Put("", "k", nil), ErrInvalid)
	wantErr(t, v.Put(long(MaxNamespaceLen+1), "k", nil), ErrInvalid)
	wantErr(t, v.Put("ns", long(MaxKeyLen+1), nil), ErrInvalid)
	wantErr(t, v.Put("ns", "k", make([]byte, MaxValueLen+1)), ErrInvalid)
	_, err := v.Get("ns", long(MaxKeyLen+1))
	wantErr(t, err, ErrInvalid)
	_, err = v.List("")
	wantErr(t, err, ErrInvalid)

	dir := filepath.Join(t.TempDir(), "v")
	_, err = Create(context.Background(), dir, nil, Options{})
	wantErr(t, err, ErrInvalid)
	_, err = Create(context.Background(), dir, make([]byte, MaxPINLen+1), Options{})
	wantErr(t, err, ErrInvalid)
	if Exists(dir) {
		t.Fatal("a refused Create left a vault")
	}
}

func TestExistsCreateOpen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "v")
	if Exists(dir) {
		t.Fatal("Exists on a missing directory")
	}
	_, err := Open(context.Background(), dir, testPIN, Options{})
	wantErr(t, err, ErrNoVault)
	v, err := Create(context.Background(), dir, testPIN, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if !Exists(dir) {
		t.Fatal("Exists after Create = false")
	}
	_, err = Create(context.Background(), dir, otherPIN, Options{})
	wantErr(t, err, ErrExists)
	mustPut(t, v, "ns", "k", "survives the refused Create")
	mustGet(t, v, "ns", "k", "survives the refused Create")
}

func TestSecondOpenIsBusy(t *testing.T) {
	v, dir := newVault(t, Options{})
	mustPut(t, v, "ns", "k", "v") // the first connection holds the lock
	_, err := Open(context.Background(), dir, testPIN, Options{})
	wantErr(t, err, ErrBusy)
	mustGet(t, v, "ns", "k", "v")
}

func TestConcurrentUse(t *testing.T) {
	v, _ := newVault(t, Options{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				k := fmt.Sprintf("g%d-%d", g, i)
				if err := v.Put("ns", k, []byte(k)); err != nil {
					t.Error(err)
					return
				}
				if got, err := v.Get("ns", k); err != nil || string(got) != k {
					t.Errorf("Get(%s) = %q, %v", k, got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	recs, err := v.List("ns")
	if err != nil || len(recs) != 80 {
		t.Fatalf("List: %d records, %v", len(recs), err)
	}
}

func TestVaultPrintsRedacted(t *testing.T) {
	v, _ := newVault(t, Options{})
	key := hex.EncodeToString(v.dataKey.bytes())
	for _, format := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
		for _, x := range []any{v, v.dataKey, v.keys, v.hdr} {
			out := fmt.Sprintf(format, x)
			if strings.Contains(out, key) || bytes.Contains([]byte(out), v.dataKey.bytes()) {
				t.Errorf("Sprintf(%s, %T) prints the data key", format, x)
			}
		}
	}
	if got := fmt.Sprint(v.dataKey); got != redacted {
		t.Errorf("secret prints %q", got)
	}
}

// Replace changes a record that exists and only that: a missing key (never
// written, or deleted in the same transaction) stays missing.
func TestReplace(t *testing.T) {
	v, _ := newVault(t, Options{})
	mustPut(t, v, "ns", "old", "x")
	mustPut(t, v, "ns", "gone", "x")
	var kept *Tx
	err := v.Update(func(tx *Tx) error {
		kept = tx
		if err := tx.Delete("ns", "gone"); err != nil {
			return err
		}
		for _, c := range []struct {
			ns, key string
			want    bool
		}{{"ns", "old", true}, {"ns", "gone", false}, {"ns", "never", false}, {"other", "old", false}} {
			replaced, err := tx.Replace(c.ns, c.key, []byte("y"))
			if err != nil || replaced != c.want {
				t.Errorf("Replace(%q, %q) = %v, %v; want %v", c.ns, c.key, replaced, err, c.want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	mustGet(t, v, "ns", "old", "y")
	for _, k := range [][2]string{{"ns", "gone"}, {"ns", "never"}, {"other", "old"}} {
		_, err := v.Get(k[0], k[1])
		wantErr(t, err, ErrNotFound)
	}
	_, err = kept.Replace("ns", "old", nil)
	wantErr(t, err, ErrClosed)
}

// Add stores a record only if there is none: a second Add of the key
// keeps the first value and reports false, also within one transaction,
// and a key in another namespace is another record.
func TestAdd(t *testing.T) {
	v, _ := newVault(t, Options{})
	mustPut(t, v, "ns", "old", "kept")
	err := v.Update(func(tx *Tx) error {
		for _, c := range []struct {
			ns, key, val string
			want         bool
		}{
			{"ns", "new", "first", true},
			{"ns", "new", "second", false},
			{"ns", "old", "replaced?", false},
			{"other", "new", "elsewhere", true},
		} {
			added, err := tx.Add(c.ns, c.key, []byte(c.val))
			if err != nil || added != c.want {
				t.Errorf("Add(%q, %q) = %v, %v; want %v", c.ns, c.key, added, err, c.want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	mustGet(t, v, "ns", "new", "first")
	mustGet(t, v, "ns", "old", "kept")
	mustGet(t, v, "other", "new", "elsewhere")
	err = v.Update(func(tx *Tx) error {
		if _, err := tx.Add("", "k", nil); !errors.Is(err, ErrInvalid) {
			t.Errorf("Add with an empty namespace: %v, want ErrInvalid", err)
		}
		if _, err := tx.Add("ns", "big", make([]byte, MaxValueLen+1)); !errors.Is(err, ErrInvalid) {
			t.Errorf("Add of %d bytes: %v, want ErrInvalid", MaxValueLen+1, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
