package storetest

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"parley.dev/internal/store"
)

// testPolicy: the newest policy is served; a version not above the
// newest, an empty or oversized document is refused and changes nothing.
func testPolicy(t *testing.T, e *env) {
	ctx := context.Background()
	if _, _, err := e.s.LatestPolicy(ctx); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("LatestPolicy before any = %v, want ErrNotFound", err)
	}
	if err := e.s.PublishPolicy(ctx, 2, []byte("doc two")); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct {
		v    uint64
		doc  []byte
		want error
	}{
		{2, []byte("again"), store.ErrExists},
		{1, []byte("older"), store.ErrExists},
		{0, []byte("zero"), store.ErrInvalid},
		{3, nil, store.ErrInvalid},
		{3, make([]byte, store.MaxPolicyDoc+1), store.ErrInvalid},
	} {
		if err := e.s.PublishPolicy(ctx, bad.v, bad.doc); !errors.Is(err, bad.want) {
			t.Errorf("PublishPolicy(%d, %d bytes) = %v, want %v", bad.v, len(bad.doc), err, bad.want)
		}
	}
	if v, doc, err := e.s.LatestPolicy(ctx); err != nil || v != 2 || !bytes.Equal(doc, []byte("doc two")) {
		t.Fatalf("LatestPolicy = %d, %q, %v", v, doc, err)
	}
	if err := e.s.PublishPolicy(ctx, 9, []byte("doc nine")); err != nil {
		t.Fatal(err)
	}
	if v, doc, err := e.s.LatestPolicy(ctx); err != nil || v != 9 || string(doc) != "doc nine" {
		t.Fatalf("LatestPolicy = %d, %q, %v", v, doc, err)
	}
}
