package server_test

import (
	"bytes"
	"io"
	"testing"

	"parley.dev/internal/wire"
)

func TestSmoke(t *testing.T) {
	r := startRelay(t)
	resp, err := r.Client().Get(r.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok\n" {
		t.Fatalf("healthz: %d %q", resp.StatusCode, body)
	}
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	if alice.Addr.Device != 1 || bob.Addr.Device != 1 {
		t.Fatalf("addresses %v %v", alice.Addr, bob.Addr)
	}
	if _, err := alice.Call("PUT", "/v1/prekeys", alice.PreKeys(t, true, 1, 3, 3)); err != nil {
		t.Fatal(err)
	}
	f, err := bob.Call("POST", "/v1/users/alice/devices/1/bundle", nil)
	if err != nil {
		t.Fatal(err)
	}
	if b := f.(*wire.Bundle); b.OneTimeEC == nil || b.KEMLastResort {
		t.Fatalf("bundle %+v", b)
	}
	bws := bob.Dial(t)
	if len(drain(t, bws)) != 0 {
		t.Fatal("bob has mail")
	}
	mustStore(t, bws, alice.Addr, msgID(1), []byte("hello alice"))
	aws := alice.Dial(t)
	got := drain(t, aws)
	if len(got) != 1 || !bytes.Equal(got[0].Payload, []byte("hello alice")) || got[0].From != bob.Addr || got[0].ID != msgID(1) {
		t.Fatalf("alice got %+v", got)
	}
	ack(t, aws, got[0].Seq)
}
