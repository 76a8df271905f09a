package server_test

import (
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"github.com/coder/websocket"

	"parley.dev/internal/addr"
	"parley.dev/internal/keys"
	"parley.dev/internal/wire"
	"parley.dev/server"
	"parley.dev/server/internal/testclient"
	"parley.dev/server/servertest"
)

func TestRegisterDevicesOfOneUser(t *testing.T) {
	r := startRelay(t)
	phone := register(t, r, "alice")
	laptop := sibling(t, r, phone)
	if phone.Addr.Device != 1 || laptop.Addr.Device != 2 {
		t.Fatalf("devices %v and %v, want 1 and 2", phone.Addr, laptop.Addr)
	}
	bob := register(t, r, "bob")
	f, err := bob.Call("GET", "/v1/users/alice/devices", nil)
	if err != nil {
		t.Fatal(err)
	}
	list := f.(*wire.DeviceList)
	id, err := keys.ParseIdentityPublic(list.Identity)
	if err != nil || !id.Equal(phone.Identity.Public()) || len(list.Devices) != 2 {
		t.Fatalf("device list %+v (%v)", list, err)
	}
	for _, d := range list.Devices {
		dev, err := keys.ParseDevicePublic(d.Key)
		if err != nil || id.VerifyDeviceCert("alice", dev, d.Cert) != nil {
			t.Errorf("device %d: certificate does not verify", d.Device)
		}
	}
	// Revoked device numbers are never reused.
	if _, err := laptop.Call("DELETE", "/v1/users/alice/devices/2", nil); err != nil {
		t.Fatal(err)
	}
	if tablet := sibling(t, r, phone); tablet.Addr.Device != 3 {
		t.Errorf("after revoking device 2 the next device is %v, want 3", tablet.Addr)
	}
	if _, err := bob.Call("GET", "/v1/users/nobody/devices", nil); codeOf(err) != wire.CodeUnknownUser {
		t.Errorf("devices of an unknown user: %v", err)
	}
}

func TestRegisterOpenRefusesAnotherIdentity(t *testing.T) {
	r := startRelay(t)
	alice := register(t, r, "alice")
	impostor := newDevice(t, r, "alice") // a fresh identity
	resp, err := impostor.RegisterRaw("")
	if err != nil || resp.Code() != wire.CodeUserExists || resp.Status != 409 {
		t.Fatalf("impostor registration: %v %v", resp, err)
	}
	// alice is untouched: her device still authenticates.
	if _, err := alice.Call("GET", "/v1/prekeys", nil); err != nil {
		t.Errorf("alice after the refused registration: %v", err)
	}
}

func TestRegisterRefusesBadKeysAndProofs(t *testing.T) {
	r := startRelay(t)
	other := testclient.NewIdentity(t)
	for _, tc := range []struct {
		name string
		edit func(d *testclient.Device) (body []byte, signer *keys.DeviceKey, as addr.Address)
		code wire.Code
	}{
		{"certificate by another identity", func(d *testclient.Device) ([]byte, *keys.DeviceKey, addr.Address) {
			d.Cert, _ = other.SignDeviceCert(d.User, d.Key.Public())
			return d.RegisterBody(""), d.Key, addr.Address{User: d.User}
		}, wire.CodeBadKey},
		{"certificate for another user", func(d *testclient.Device) ([]byte, *keys.DeviceKey, addr.Address) {
			d.Cert, _ = d.Identity.SignDeviceCert("mallory", d.Key.Public())
			return d.RegisterBody(""), d.Key, addr.Address{User: d.User}
		}, wire.CodeBadKey},
		{"malformed identity", func(d *testclient.Device) ([]byte, *keys.DeviceKey, addr.Address) {
			b, _ := wire.Marshal(&wire.Register{User: d.User, Identity: []byte("not a key"), DeviceKey: d.Key.Public().Bytes(), DeviceCert: d.Cert})
			return b, d.Key, addr.Address{User: d.User}
		}, wire.CodeBadKey},
		{"identity key where the device key belongs", func(d *testclient.Device) ([]byte, *keys.DeviceKey, addr.Address) {
			b, _ := wire.Marshal(&wire.Register{User: d.User, Identity: d.Identity.Public().Bytes(), DeviceKey: d.Identity.Public().Bytes(), DeviceCert: d.Cert})
			return b, d.Key, addr.Address{User: d.User}
		}, wire.CodeBadKey},
		{"proof by another key", func(d *testclient.Device) ([]byte, *keys.DeviceKey, addr.Address) {
			k, _ := keys.GenerateDeviceKey()
			return d.RegisterBody(""), k, addr.Address{User: d.User}
		}, wire.CodeUnauthorized},
		{"proof for another user", func(d *testclient.Device) ([]byte, *keys.DeviceKey, addr.Address) {
			return d.RegisterBody(""), d.Key, addr.Address{User: "bob"}
		}, wire.CodeUnauthorized},
		{"proof with a device number", func(d *testclient.Device) ([]byte, *keys.DeviceKey, addr.Address) {
			return d.RegisterBody(""), d.Key, addr.Address{User: d.User, Device: 1}
		}, wire.CodeUnauthorized},
		{"unsupported version", func(d *testclient.Device) ([]byte, *keys.DeviceKey, addr.Address) {
			b := d.RegisterBody("")
			b[0] = 9
			return b, d.Key, addr.Address{User: d.User}
		}, wire.CodeUnsupportedVersion},
		{"truncated", func(d *testclient.Device) ([]byte, *keys.DeviceKey, addr.Address) {
			b := d.RegisterBody("")
			return b[:len(b)-3], d.Key, addr.Address{User: d.User}
		}, wire.CodeMalformed},
	} {
		d := newDevice(t, r, "carol")
		body, signer, as := tc.edit(d)
		ch, err := d.Challenge()
		if err != nil {
			t.Fatal(err)
		}
		resp, err := d.Raw("POST", "/v1/register", body, testclient.Sign(signer, as, ch, "POST", "/v1/register", body))
		if err != nil || resp.Code() != tc.code {
			t.Errorf("%s: %v %v, want %v", tc.name, resp.Code(), err, tc.code)
		}
	}
	// Nothing was created: carol registers afresh as device 1.
	if carol := register(t, r, "carol"); carol.Addr.Device != 1 {
		t.Errorf("carol is %v after the refused registrations", carol.Addr)
	}
}

// tokenRelay starts a relay in token mode and returns the backend key.
func tokenRelay(t *testing.T, clk *servertest.Clock) (*servertest.Relay, ed25519.PrivateKey) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	r := startRelay(t, withClock(clk), func(s *server.Server) {
		s.Registration = server.RegisterToken
		s.TokenKey = pub
	})
	return r, priv
}

func mint(t *testing.T, key ed25519.PrivateKey, user addr.UserID, expires time.Time) string {
	t.Helper()
	tok, err := server.NewRegistrationToken(key, user, expires)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestRegistrationTokens(t *testing.T) {
	clk := servertest.NewClock(epoch)
	r, key := tokenRelay(t, clk)
	_, otherKey, _ := ed25519.GenerateKey(nil)
	later := epoch.Add(time.Hour)
	reg := func(d *testclient.Device, token string) wire.Code {
		t.Helper()
		resp, err := d.RegisterRaw(token)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Code()
	}
	alice := newDevice(t, r, "alice")
	expired := mint(t, key, "alice", epoch.Add(time.Minute))
	for _, tc := range []struct {
		name, token string
		code        wire.Code
	}{
		{"no token", "", wire.CodeTokenRequired},
		{"forged", mint(t, otherKey, "alice", later), wire.CodeTokenInvalid},
		{"for another user", mint(t, key, "bob", later), wire.CodeTokenInvalid},
		{"garbage", "bm90IGEgdG9rZW4", wire.CodeTokenInvalid},
	} {
		if got := reg(alice, tc.token); got != tc.code {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.code)
		}
	}
	clk.Advance(2 * time.Minute)
	if got := reg(alice, expired); got != wire.CodeTokenExpired {
		t.Errorf("expired: %v", got)
	}
	good := mint(t, key, "alice", later)
	if got := reg(alice, good); got != wire.CodeOK {
		t.Fatalf("valid token: %v", got)
	}
	laptop := testclient.NewDevice(t, r.URL, r.ClientTLS(), "alice", alice.Identity)
	if got := reg(laptop, good); got != wire.CodeTokenUsed {
		t.Errorf("reused token: %v", got)
	}
	if got := reg(laptop, mint(t, key, "alice", later)); got != wire.CodeOK || laptop.Addr.Device != 2 {
		t.Errorf("second device with a fresh token: %v %v", got, laptop.Addr)
	}
}

// TestTokenReplacesIdentity: in token mode a token authorizes a new
// identity for an existing user; every old device is revoked and its
// connection closed.
func TestTokenReplacesIdentity(t *testing.T) {
	clk := servertest.NewClock(epoch)
	r, key := tokenRelay(t, clk)
	old := newDevice(t, r, "alice")
	old.Register(t, mint(t, key, "alice", epoch.Add(time.Hour)))
	bob := newDevice(t, r, "bob")
	bob.Register(t, mint(t, key, "bob", epoch.Add(time.Hour)))
	mustStore(t, bob.Dial(t), old.Addr, msgID(1), []byte("for the old phone"))
	oldWS := old.Dial(t)
	drain(t, oldWS)

	fresh := newDevice(t, r, "alice") // a new identity
	fresh.Register(t, mint(t, key, "alice", epoch.Add(time.Hour)))
	if fresh.Addr.Device != 2 {
		t.Errorf("new device %v, want alice/2", fresh.Addr)
	}
	if e := next[*wire.Error](t, oldWS); e.Code != wire.CodeUnauthorized {
		t.Errorf("old device got %v, want an unauthorized error", e)
	}
	if s := closedWith(t, oldWS); s != websocket.StatusPolicyViolation {
		t.Errorf("old connection closed with %v", s)
	}
	if _, err := old.Call("GET", "/v1/prekeys", nil); codeOf(err) != wire.CodeUnauthorized {
		t.Errorf("old device after replacement: %v", err)
	}
	f, err := bob.Call("GET", "/v1/users/alice/devices", nil)
	if err != nil {
		t.Fatal(err)
	}
	list := f.(*wire.DeviceList)
	id, _ := keys.ParseIdentityPublic(list.Identity)
	if !id.Equal(fresh.Identity.Public()) || len(list.Devices) != 1 || list.Devices[0].Device != 2 {
		t.Errorf("device list after replacement: %+v", list)
	}
	if got := drain(t, fresh.Dial(t)); len(got) != 0 {
		t.Errorf("the new device inherited %d envelopes", len(got))
	}
}

func TestRegisterRateLimit(t *testing.T) {
	clk := servertest.NewClock(epoch)
	r := startRelay(t, withClock(clk), func(s *server.Server) {
		s.RegisterRate = server.Rate{Burst: 3, Per: time.Hour}
	})
	try := func(user addr.UserID) wire.Code {
		resp, err := newDevice(t, r, user).RegisterRaw("")
		if err != nil {
			t.Fatal(err)
		}
		return resp.Code()
	}
	for _, u := range []addr.UserID{"u1", "u2", "u3"} {
		if c := try(u); c != wire.CodeOK {
			t.Fatalf("registration %s: %v", u, c)
		}
	}
	if c := try("u4"); c != wire.CodeRateLimited {
		t.Fatalf("fourth registration within the hour: %v, want rate-limited", c)
	}
	clk.Advance(20 * time.Minute) // one token refills
	if c := try("u5"); c != wire.CodeOK {
		t.Fatalf("after 20 minutes: %v", c)
	}
	if c := try("u6"); c != wire.CodeRateLimited {
		t.Fatalf("second after 20 minutes: %v", c)
	}
}

func TestNewRegistrationTokenRefusesBadInput(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(nil)
	if _, err := server.NewRegistrationToken(key, "Not Valid", time.Now()); !errors.Is(err, addr.ErrInvalid) {
		t.Errorf("invalid user: %v", err)
	}
	if _, err := server.NewRegistrationToken(key[:10], "alice", time.Now()); err == nil {
		t.Error("short key accepted")
	}
}

// TestFailedRegistrationKeepsItsToken: a token registration refused after
// the token was checked (the user is at its device limit) does not use the
// token up: once a device is revoked, the same token registers.
func TestFailedRegistrationKeepsItsToken(t *testing.T) {
	clk := servertest.NewClock(epoch)
	r, key := tokenRelay(t, clk)
	later := epoch.Add(time.Hour)
	first := newDevice(t, r, "alice")
	first.Register(t, mint(t, key, "alice", later))
	for range wire.MaxDevices - 1 {
		testclient.NewDevice(t, r.URL, r.ClientTLS(), "alice", first.Identity).Register(t, mint(t, key, "alice", later))
	}
	extra := testclient.NewDevice(t, r.URL, r.ClientTLS(), "alice", first.Identity)
	tok := mint(t, key, "alice", later)
	if resp, err := extra.RegisterRaw(tok); err != nil || resp.Code() != wire.CodeLimit {
		t.Fatalf("registration past the device limit: %v %v", resp, err)
	}
	if _, err := first.Call("DELETE", "/v1/users/alice/devices/2", nil); err != nil {
		t.Fatal(err)
	}
	if resp, err := extra.RegisterRaw(tok); err != nil || resp.Code() != wire.CodeOK {
		t.Fatalf("the same token after a device was revoked: %v %v (burned by the refused registration?)", resp, err)
	}
	if extra.Addr.Device != wire.MaxDevices+1 {
		t.Errorf("new device %v, want device %d", extra.Addr, wire.MaxDevices+1)
	}
}
