package blob_test

import (
	"testing"

	"parley.dev/internal/blob"
)

// TestParseIDOneSpelling: an ID has exactly one text; the base64 decoder's
// habit of skipping line breaks does not give it others.
func TestParseIDOneSpelling(t *testing.T) {
	id := blob.NewID()
	s := id.String()
	if got, err := blob.ParseID(s); err != nil || got != id {
		t.Fatalf("ParseID(%q) = %v, %v", s, got, err)
	}
	for _, bad := range []string{s[:5] + "\r" + s[5:], s + "\n", "\n" + s, s[:21]} {
		if _, err := blob.ParseID(bad); err == nil {
			t.Errorf("ParseID(%q) accepted", bad)
		}
	}
}
