package vault

import (
	"context"
	"testing"
)

// TestCompactLeavesNoTrace: a deleted record's sealed bytes stay in the
// log's page images until Compact, and are in none of the files after it.
func TestCompactLeavesNoTrace(t *testing.T) {
	v, _ := newVault(t, Options{})
	mustPut(t, v, "h", "keep", "a record that stays")
	mustPut(t, v, "h", "gone", "a message that must disappear")
	sealed, err := v.UnsafeSealedForTests("h", "gone")
	if err != nil {
		t.Fatal(err)
	}
	if held, err := v.UnsafeFilesHoldForTests(sealed); err != nil || !held {
		t.Fatalf("before deletion the files hold the record: %v (err %v)", held, err)
	}
	if err := v.Delete("h", "gone"); err != nil {
		t.Fatal(err)
	}
	if held, err := v.UnsafeFilesHoldForTests(sealed); err != nil || !held {
		t.Fatalf("deleted but not compacted, the log still holds the record: %v (err %v)", held, err)
	}
	if err := v.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
	if held, err := v.UnsafeFilesHoldForTests(sealed); err != nil || held {
		t.Fatalf("after Compact the files hold the record: %v (err %v)", held, err)
	}
	mustGet(t, v, "h", "keep", "a record that stays")
}
