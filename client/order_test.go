package client_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"parley.dev/client"
)

// TestHistoryOrderWithinAMillisecond: with every clock frozen, so that
// all messages carry the same sent and received times, each side's
// history still lists a burst in the order it was written, for a
// conversation and for a group. (Before, ties fell back to the vault's
// key order, which is random.)
func TestHistoryOrderWithinAMillisecond(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := startRelay(t)
	clock := &testClock{now: time.Now()}
	frozen := func(c *client.Client) { client.SetClock(c, clock.Now) }
	alice, bob := register(t, r, "alice", frozen), register(t, r, "bob", frozen)
	texts := make([]string, 40)
	for i := range texts {
		texts[i] = fmt.Sprintf("message %02d", i)
	}
	if err := sendBurst(ctx, alice, "bob", texts); err != nil {
		t.Fatal(err)
	}
	syncNow(t, bob)
	for _, side := range []struct {
		c       *client.Client
		contact string
	}{{alice, "bob"}, {bob, "alice"}} {
		h, err := side.c.History(ctx, side.contact)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range h {
			got = append(got, m.Text)
		}
		wantTexts(t, "history with "+side.contact, got, texts...)
	}

	id := newGroup(t, alice, []string{"bob"}, bob)
	for _, text := range texts[:10] {
		if _, err := alice.SendGroup(ctx, id, text); err != nil {
			t.Fatal(err)
		}
	}
	syncNow(t, bob)
	for name, c := range map[string]*client.Client{"alice": alice, "bob": bob} {
		es, err := c.GroupHistory(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range es {
			if e.Message != nil {
				got = append(got, e.Message.Text)
			}
		}
		wantTexts(t, name+"'s group history", got, texts[:10]...)
	}
}
