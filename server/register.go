package server

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"time"

	"parley.dev/internal/addr"
	"parley.dev/internal/fanout"
	"parley.dev/internal/keys"
	"parley.dev/internal/store"
	"parley.dev/internal/wire"
)

// NewRegistrationToken mints a token that lets one registration of user
// proceed until expires (rounded down to the second). The host app's
// backend calls it with the private half of the relay's TokenKey; the
// token's text is handed to the user's app, which puts it in its
// registration. The result is a bearer secret until used: do not log it.
func NewRegistrationToken(key ed25519.PrivateKey, user addr.UserID, expires time.Time) (string, error) {
	if len(key) != ed25519.PrivateKeySize {
		return "", errors.New("server: registration token key is not an Ed25519 private key")
	}
	if !user.Valid() {
		return "", fmt.Errorf("server: registration token: %w user ID %q", addr.ErrInvalid, user)
	}
	t := &wire.RegistrationToken{User: user, Expires: time.Unix(expires.Unix(), 0)}
	rand.Read(t.Nonce[:]) // never fails; see crypto/rand.Read
	msg, err := t.SignedMessage()
	if err != nil {
		return "", fmt.Errorf("server: registration token: %w", err)
	}
	copy(t.Signature[:], ed25519.Sign(key, msg))
	return t.Text()
}

var (
	errRateRegister = wire.Errorf(wire.CodeRateLimited, "too many registrations from this network")
	errTokenInvalid = wire.Errorf(wire.CodeTokenInvalid, "token forged, malformed or for another user")
)

// registration is one checked Register request.
type registration struct {
	req      *wire.Register
	identity keys.IdentityPublic
	device   keys.DevicePublic
	token    *wire.RegistrationToken // nil in open mode
}

// handleRegister registers a device. The proof is signed by the new
// device key, with device number 0.
func (r *relay) handleRegister(w http.ResponseWriter, req *http.Request) {
	if !r.registerL.allow(clientKey(req.RemoteAddr)) {
		r.writeError(w, errRateRegister)
		return
	}
	reg, werr := r.checkRegistration(w, req)
	if werr != nil {
		r.writeError(w, werr)
		return
	}
	a, werr := r.register(req.Context(), reg)
	if werr != nil {
		r.writeError(w, werr)
		return
	}
	r.metrics.registrations.Add(1)
	r.log.Info("device registered", "device", a.String())
	r.writeFrame(w, &wire.Registered{Address: a})
}

// checkRegistration authenticates and validates a registration without
// changing any state but the challenge set.
func (r *relay) checkRegistration(w http.ResponseWriter, req *http.Request) (*registration, *wire.Error) {
	p, werr := r.proofOf(req)
	if werr != nil {
		return nil, werr
	}
	body, werr := readBody(w, req, maxRegisterBody)
	if werr != nil {
		return nil, werr
	}
	m, err := wire.ParseAs[*wire.Register](body)
	if err != nil {
		return nil, asWireError(err)
	}
	reg := &registration{req: m}
	if reg.device, err = keys.ParseDevicePublic(m.DeviceKey); err != nil {
		return nil, wire.Errorf(wire.CodeBadKey, "device key")
	}
	if p.Address != (addr.Address{User: m.User}) || !verifyProof(reg.device, p, req, body) {
		return nil, errBadDevice
	}
	if reg.identity, err = keys.ParseIdentityPublic(m.Identity); err != nil {
		return nil, wire.Errorf(wire.CodeBadKey, "identity key")
	}
	if reg.identity.VerifyDeviceCert(m.User, reg.device, m.DeviceCert) != nil {
		return nil, wire.Errorf(wire.CodeBadKey, "device certificate does not verify")
	}
	if r.registration == RegisterToken {
		if reg.token, werr = r.checkToken(m); werr != nil {
			return nil, werr
		}
	}
	return reg, nil
}

// checkToken verifies a registration's token: signed by the token key,
// for this user, unexpired. Whether it was used is the store's to say.
func (r *relay) checkToken(m *wire.Register) (*wire.RegistrationToken, *wire.Error) {
	if m.Token == "" {
		return nil, wire.Errorf(wire.CodeTokenRequired, "this relay registers only with a token")
	}
	t, err := wire.ParseTokenText(m.Token)
	if err != nil {
		return nil, errTokenInvalid
	}
	msg, err := t.SignedMessage()
	if err != nil || t.User != m.User || !ed25519.Verify(r.tokenKey, msg, t.Signature[:]) {
		return nil, errTokenInvalid
	}
	if !r.now().Before(t.Expires) {
		return nil, wire.Errorf(wire.CodeTokenExpired, "token expired")
	}
	return t, nil
}

// register applies the decided rules: a new user is created; an existing
// user with the same identity gets another device; an existing user with
// a different identity is refused in open mode and, in token mode, has
// its identity replaced (all old devices revoked).
func (r *relay) register(ctx context.Context, reg *registration) (addr.Address, *wire.Error) {
	user := reg.req.User
	existing, err := r.store.User(ctx, user)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return r.registerNewUser(ctx, reg)
	case err != nil:
		return addr.Address{}, r.internal("user lookup", err)
	}
	old, err := keys.ParseIdentityPublic(existing.Identity)
	if err == nil && old.Equal(reg.identity) {
		return r.addDevice(ctx, reg)
	}
	if reg.token == nil {
		return addr.Address{}, wire.Errorf(wire.CodeUserExists, "user exists with another identity")
	}
	if werr := r.useToken(ctx, reg.token); werr != nil {
		return addr.Address{}, werr
	}
	revoked, err := r.store.ReplaceIdentity(ctx, store.User{ID: user, Identity: reg.req.Identity})
	if err != nil {
		return addr.Address{}, r.internal("replace identity", err)
	}
	r.log.Info("identity replaced", "user", string(user), "revoked", len(revoked))
	for _, d := range revoked {
		r.publish(addr.Address{User: user, Device: d}, fanout.Revoked)
	}
	return r.storeDevice(ctx, reg)
}

func (r *relay) registerNewUser(ctx context.Context, reg *registration) (addr.Address, *wire.Error) {
	if werr := r.useToken(ctx, reg.token); werr != nil {
		return addr.Address{}, werr
	}
	err := r.store.CreateUser(ctx, store.User{ID: reg.req.User, Identity: reg.req.Identity, Created: r.now()})
	if errors.Is(err, store.ErrExists) { // a concurrent registration won
		return addr.Address{}, wire.Errorf(wire.CodeUserExists, "user registered concurrently; retry")
	}
	if err != nil {
		return addr.Address{}, r.internal("create user", err)
	}
	return r.storeDevice(ctx, reg)
}

func (r *relay) addDevice(ctx context.Context, reg *registration) (addr.Address, *wire.Error) {
	devs, err := r.store.Devices(ctx, reg.req.User)
	if err != nil {
		return addr.Address{}, r.internal("list devices", err)
	}
	if len(devs) >= wire.MaxDevices {
		return addr.Address{}, wire.Errorf(wire.CodeLimit, "too many devices")
	}
	if werr := r.useToken(ctx, reg.token); werr != nil {
		return addr.Address{}, werr
	}
	return r.storeDevice(ctx, reg)
}

func (r *relay) storeDevice(ctx context.Context, reg *registration) (addr.Address, *wire.Error) {
	id, err := r.store.AddDevice(ctx, store.Device{
		Address: addr.Address{User: reg.req.User},
		Key:     reg.req.DeviceKey,
		Cert:    reg.req.DeviceCert,
		Created: r.now(),
	})
	if errors.Is(err, store.ErrLimit) {
		return addr.Address{}, wire.Errorf(wire.CodeLimit, "too many devices")
	}
	if err != nil {
		return addr.Address{}, r.internal("add device", err)
	}
	return addr.Address{User: reg.req.User, Device: id}, nil
}

// useToken records t as used (nil: open mode, nothing to record).
func (r *relay) useToken(ctx context.Context, t *wire.RegistrationToken) *wire.Error {
	if t == nil {
		return nil
	}
	id, err := t.ID()
	if err != nil {
		return errTokenInvalid
	}
	err = r.store.UseToken(ctx, id, t.Expires)
	if errors.Is(err, store.ErrTokenUsed) {
		return wire.Errorf(wire.CodeTokenUsed, "token already used")
	}
	if err != nil {
		return r.internal("use token", err)
	}
	return nil
}

// asWireError returns err's *wire.Error (parse errors are), or malformed.
func asWireError(err error) *wire.Error {
	var we *wire.Error
	if errors.As(err, &we) {
		return we
	}
	return wire.Errorf(wire.CodeMalformed, "malformed frame")
}

// publish sends a wake-up; a lost one only delays delivery (the store is
// the source of truth), so failures are logged and dropped.
func (r *relay) publish(a addr.Address, k fanout.Kind) {
	if err := r.fan.Publish(r.ctx, fanout.Event{Device: a, Kind: k}); err != nil && !errors.Is(err, fanout.ErrClosed) {
		r.log.Warn("fanout publish", "device", a.String(), "kind", k.String(), "err", err)
	}
}
