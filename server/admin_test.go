package server_test

import (
	"context"
	"errors"
	"testing"

	"github.com/coder/websocket"

	"parley.dev/internal/audit"
	"parley.dev/internal/wire"
	"parley.dev/server"
)

// TestAdminRevokeCutsLiveDevice: an admin revocation closes the device's
// live connection, and every admin action lands in a verifying audit log.
func TestAdminRevokeCutsLiveDevice(t *testing.T) {
	r := startRelay(t)
	alice := register(t, r, "alice")
	phone := sibling(t, r, alice)
	bob := register(t, r, "bob")
	ws := phone.Dial(t)

	adm, err := r.Server.Admin()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := adm.RevokeDevice(ctx, "alice", uint32(phone.Addr.Device)); err != nil {
		t.Fatal(err)
	}
	if s := closedWith(t, ws); s != websocket.StatusPolicyViolation {
		t.Errorf("revoked device closed with %v, want policy violation", s)
	}
	if err := adm.RevokeDevice(ctx, "alice", 99); !errors.Is(err, server.ErrNoSuchDevice) {
		t.Errorf("revoking an unknown device: %v", err)
	}
	bobWS := bob.Dial(t)
	if err := adm.Suspend(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if f := next[*wire.Error](t, bobWS); f.Code != wire.CodeForbidden {
		t.Errorf("suspended user's live connection told %v, want forbidden", f)
	}
	if s := closedWith(t, bobWS); s != websocket.StatusPolicyViolation {
		t.Errorf("suspended user's live connection closed with %v, want policy violation", s)
	}
	if _, err := bob.Call("GET", "/v1/users/alice/devices", nil); codeOf(err) != wire.CodeForbidden {
		t.Errorf("suspended user's request: %v, want forbidden", err)
	}
	if err := adm.Resume(ctx, "nobody"); !errors.Is(err, server.ErrNoSuchUser) {
		t.Errorf("resuming an unknown user: %v", err)
	}
	users, err := adm.Users(ctx, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 2 || users[0].ID != "alice" || users[0].Devices != 1 || !users[1].Suspended {
		t.Errorf("users: %+v", users)
	}
	log, err := adm.AuditLog(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []audit.Kind
	for _, e := range log {
		if e.Actor == "admin" {
			kinds = append(kinds, e.Kind)
		}
	}
	if len(kinds) < 2 || kinds[0] != audit.DeviceRevoke || kinds[len(kinds)-1] != audit.UserResume {
		t.Errorf("admin audit kinds: %v", kinds)
	}
	if n, err := adm.VerifyAudit(ctx); err != nil || n != int64(len(log)) {
		t.Errorf("verify: %d entries, %v; want %d", n, err, len(log))
	}
}

// TestAdminDeleteUser: deleting a user cuts its live device, removes the
// account and leaves an audit entry.
func TestAdminDeleteUser(t *testing.T) {
	r := startRelay(t)
	carol := register(t, r, "carol")
	ws := carol.Dial(t)
	adm, err := r.Server.Admin()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := adm.DeleteUser(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	if s := closedWith(t, ws); s != websocket.StatusPolicyViolation {
		t.Errorf("deleted user's device closed with %v, want policy violation", s)
	}
	if users, err := adm.Users(ctx, "", 10); err != nil || len(users) != 0 {
		t.Errorf("users after delete: %+v, %v", users, err)
	}
	if err := adm.DeleteUser(ctx, "carol"); !errors.Is(err, server.ErrNoSuchUser) {
		t.Errorf("deleting again: %v", err)
	}
	log, err := adm.AuditLog(ctx, 0, 100)
	if err != nil || len(log) == 0 || log[len(log)-1].Kind != audit.UserDelete {
		t.Errorf("audit after delete: %v, %v", log, err)
	}
}
