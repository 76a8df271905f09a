package server_test

import (
	"slices"
	"testing"

	"parley.dev/internal/addr"
	"parley.dev/internal/wire"
	"parley.dev/server"
	"parley.dev/server/internal/testclient"
)

func groupSubmit(t testing.TB, ws interface{ Send(wire.Frame) error }, m *wire.GroupSubmit) {
	t.Helper()
	slices.SortFunc(m.To, func(a, b addr.Address) int {
		if wire.AddressLess(a, b) {
			return -1
		}
		return 1
	})
	if err := ws.Send(m); err != nil {
		t.Fatal(err)
	}
}

// TestGroupFanout: one GroupSubmit reaches every named mailbox as a
// KindGroup delivery, durably before the answer; a resubmission stores
// nothing twice; unknown devices and the sender itself are reported.
func TestGroupFanout(t *testing.T) {
	r := startRelay(t)
	alice, bob, carol := register(t, r, "alice"), register(t, r, "bob"), register(t, r, "carol")
	bob2 := sibling(t, r, bob)
	aws := alice.Dial(t)
	to := []addr.Address{bob.Addr, bob2.Addr, carol.Addr, {User: "carol", Device: 9}, alice.Addr}
	m := &wire.GroupSubmit{ID: msgID(1), Payload: []byte("sealed once"), To: to}
	groupSubmit(t, aws, m)
	res := next[*wire.GroupSubmitResult](t, aws)
	want := []wire.GroupFailure{{To: alice.Addr, Code: wire.CodeForbidden}, {To: addr.Address{User: "carol", Device: 9}, Code: wire.CodeUnknownDevice}}
	if res.ID != m.ID || res.Stored != 3 || !sameFailures(res.Failures, want) {
		t.Fatalf("result %+v", res)
	}
	r.Restart(t) // stored means durable
	for _, dev := range []*testclient.Device{bob, bob2, carol} {
		got := drain(t, dev.Dial(t))
		if len(got) != 1 || got[0].Kind != wire.KindGroup || got[0].From != alice.Addr || got[0].ID != m.ID ||
			string(got[0].Payload) != "sealed once" {
			t.Fatalf("%s got %+v", dev.Addr, got)
		}
	}
	aws = alice.Dial(t)
	groupSubmit(t, aws, m)
	if res := next[*wire.GroupSubmitResult](t, aws); res.Stored != 3 {
		t.Fatalf("resubmission: %+v", res)
	}
	if got := drain(t, carol.Dial(t)); len(got) != 1 {
		t.Fatalf("carol has %d copies after a resubmission", len(got))
	}
}

func TestGroupFanoutLimits(t *testing.T) {
	r := startRelay(t, func(s *server.Server) { s.MaxEnvelope = 1024 })
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	aws := alice.Dial(t)
	groupSubmit(t, aws, &wire.GroupSubmit{ID: msgID(1), Payload: make([]byte, 1025), To: []addr.Address{bob.Addr}})
	res := next[*wire.GroupSubmitResult](t, aws)
	if res.Stored != 0 || len(res.Failures) != 1 || res.Failures[0].Code != wire.CodeTooLarge {
		t.Fatalf("oversized: %+v", res)
	}
}

func sameFailures(got, want []wire.GroupFailure) bool {
	less := func(a, b wire.GroupFailure) int {
		if wire.AddressLess(a.To, b.To) {
			return -1
		}
		return 1
	}
	slices.SortFunc(got, less)
	slices.SortFunc(want, less)
	return slices.Equal(got, want)
}

// TestDeviceLists: one request returns the device lists of several users,
// leaving out the unknown ones; a malformed request is refused.
func TestDeviceLists(t *testing.T) {
	r := startRelay(t)
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	sibling(t, r, bob)
	f, err := alice.Call("POST", "/v1/devices", &wire.DeviceListsRequest{Users: []addr.UserID{"bob", "nobody", "zed"}})
	if err != nil {
		t.Fatal(err)
	}
	lists := f.(*wire.DeviceLists).Lists
	if len(lists) != 1 || lists[0].User != "bob" || len(lists[0].Devices) != 2 ||
		string(lists[0].Identity) != string(bob.Identity.Public().Bytes()) {
		t.Fatalf("lists: %+v", lists)
	}
	r2, err := alice.Do("POST", "/v1/devices", []byte{wire.Version, byte(wire.TypeDeviceListsRequest), 0, 0})
	if err != nil || r2.Code() != wire.CodeMalformed {
		t.Fatalf("empty request: %v %v", r2, err)
	}
	r3, err := alice.Do("POST", "/v1/devices", nil)
	if err != nil || r3.Code() != wire.CodeMalformed {
		t.Fatalf("no body: %v %v", r3, err)
	}
}

// TestDeviceListsOverWebSocket: the same request over a connected
// device's WebSocket, without a challenge.
func TestDeviceListsOverWebSocket(t *testing.T) {
	r := startRelay(t)
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	ws := alice.Dial(t)
	req := &wire.Request{ID: 3, Op: wire.OpDeviceLists, Users: &wire.DeviceListsRequest{Users: []addr.UserID{"bob", "nobody"}}}
	if err := ws.Send(req); err != nil {
		t.Fatal(err)
	}
	resp := next[*wire.Response](t, ws)
	lists, ok := resp.Answer.(*wire.DeviceLists)
	if resp.ID != 3 || !ok || len(lists.Lists) != 1 || lists.Lists[0].User != "bob" ||
		string(lists.Lists[0].Identity) != string(bob.Identity.Public().Bytes()) {
		t.Fatalf("response %+v", resp)
	}
}
