package client_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"parley.dev/client"
)

// TestSendMany: a burst's results say, per message, what Send would have:
// sent (and received in order), queued while the relay is down (and sent
// on the next Sync), refused for a user who does not exist; arguments
// Send would refuse fail the whole call and store nothing.
func TestSendMany(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := startRelay(t)
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	burst := []string{"one", "two", "three"}

	res, err := alice.SendMany(ctx, "bob", burst)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[client.MessageID]bool{}
	for i, x := range res {
		if x.Err != nil || seen[x.ID] || x.ID == (client.MessageID{}) {
			t.Fatalf("result %d = %+v: want sent, with an ID of its own", i, x)
		}
		seen[x.ID] = true
	}
	wantTexts(t, "bob's messages", texts(syncNow(t, bob), client.EventMessage), burst...)
	for _, m := range history(t, alice, "bob") {
		if m.Status != client.StatusSent {
			t.Fatalf("alice's %q is %v, want sent", m.Text, m.Status)
		}
	}

	res, err = alice.SendMany(ctx, "nobody", []string{"to no one", "again"})
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range res {
		if !errors.Is(x.Err, client.ErrUnknownUser) || errors.Is(x.Err, client.ErrQueued) {
			t.Fatalf("to an unknown user, result %d: %v, want ErrUnknownUser", i, x.Err)
		}
	}

	r.Stop(t)
	res, err = alice.SendMany(ctx, "bob", []string{"while down 1", "while down 2"})
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range res {
		if !errors.Is(x.Err, client.ErrQueued) {
			t.Fatalf("while the relay is down, result %d: %v, want ErrQueued", i, x.Err)
		}
	}
	r.Restart(t)
	syncNow(t, alice)
	wantTexts(t, "bob's messages after the restart", texts(syncNow(t, bob), client.EventMessage), "while down 1", "while down 2")

	for name, bad := range map[string][]string{
		"no text":   nil,
		"too many":  make([]string, client.MaxBurst+1),
		"empty":     {"fine", ""},
		"too long":  {strings.Repeat("x", client.MaxTextLen+1)},
		"not UTF-8": {"fine", "\xff"},
	} {
		for i := range bad {
			if bad[i] == "" && name == "too many" {
				bad[i] = fmt.Sprint(i)
			}
		}
		if _, err := alice.SendMany(ctx, "bob", bad); !errors.Is(err, client.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if n := len(history(t, alice, "bob")); n != 5 {
		t.Errorf("alice's history with bob holds %d messages, want 5 (refused bursts store nothing)", n)
	}
}
