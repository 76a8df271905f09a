package grouptest

import (
	"bytes"
	"testing"
	"time"

	"parley.dev/internal/addr"
	"parley.dev/internal/group"
	"parley.dev/internal/keys/keystest"
)

// TestForgeAddMatchesTheEncoding: made by an admin, a forged add is
// byte for byte the change the group package makes, so the layout in
// docs/protocol.md is the one implemented.
func TestForgeAddMatchesTheEncoding(t *testing.T) {
	ann, bob, cat := keystest.Identity("ann"), keystest.Identity("bob"), keystest.Identity("cat")
	now := time.UnixMilli(1_700_000_000_000)
	_, st, err := group.Create(ann, "ann", "team", []group.Member{{User: "bob", Identity: bob.Public()}}, now)
	if err != nil {
		t.Fatal(err)
	}
	add := []group.Member{{User: "cat", Identity: cat.Public()}}
	c, _, err := st.Add(ann, "ann", add, now)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := c.MarshalBinary()
	if got := ForgeAdd(ann, "ann", st, add, now); !bytes.Equal(got, want) {
		t.Fatalf("forged add differs:\n got %x\nwant %x", got, want)
	}
	forged, err := group.ParseChange(ForgeAdd(bob, addr.UserID("bob"), st, add, now))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Apply(forged); err == nil {
		t.Fatal("an add signed by a member applied")
	}
}
