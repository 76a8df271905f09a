package server

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"time"

	"parley.dev/internal/addr"
	"parley.dev/internal/audit"
	"parley.dev/internal/fanout"
	"parley.dev/internal/keys"
	"parley.dev/internal/store"
	"parley.dev/internal/wire"
	"parley.dev/token"
)

// NewRegistrationToken mints a token that lets one registration of user
// proceed until expires (rounded down to the second). The host app's
// backend calls it with the private half of the relay's TokenKey; the
// token's text is handed to the user's app, which puts it in its
// registration. The result is a bearer secret until used: do not log it.
//
// A backend holding the user's name in a string uses token.Mint, which
// this calls, and which links none of the relay.
func NewRegistrationToken(key ed25519.PrivateKey, user addr.UserID, expires time.Time) (string, error) {
	return token.Mint(key, string(user), expires)
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
// its identity replaced (all old devices revoked). The decision is made
// on what the store holds, and the store applies it, with the token's
// use, in one transaction that goes ahead only if the user is still as
// read; if another registration came first, it reads and decides again.
func (r *relay) register(ctx context.Context, reg *registration) (addr.Address, *wire.Error) {
	for range registerAttempts {
		sr, werr := r.decide(ctx, reg)
		if werr != nil {
			return addr.Address{}, werr
		}
		done, err := r.store.Register(ctx, sr)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if werr := r.registerError(err); werr != nil {
			return addr.Address{}, werr
		}
		if len(done.Revoked) > 0 {
			r.log.Info("identity replaced", "user", string(reg.req.User), "revoked", len(done.Revoked))
		}
		for _, d := range done.Revoked {
			r.publish(addr.Address{User: reg.req.User, Device: d}, fanout.Revoked)
		}
		a := addr.Address{User: reg.req.User, Device: done.Device}
		r.auditRegistration(ctx, a, sr, len(done.Revoked))
		return a, nil
	}
	return addr.Address{}, wire.Errorf(wire.CodeUnavailable, "registrations of this user raced; retry")
}

// registerAttempts bounds how often register decides again after losing
// a race to another registration of the same user.
const registerAttempts = 3

// decide reads the user and returns the registration to apply.
func (r *relay) decide(ctx context.Context, reg *registration) (store.Registration, *wire.Error) {
	sr := store.Registration{
		User:       store.User{ID: reg.req.User, Identity: reg.req.Identity, Created: r.now()},
		Device:     store.Device{Key: reg.req.DeviceKey, Cert: reg.req.DeviceCert, Created: r.now()},
		MaxDevices: wire.MaxDevices,
	}
	if reg.token != nil {
		id, err := reg.token.ID()
		if err != nil {
			return sr, errTokenInvalid
		}
		sr.Token = &store.Token{Hash: id, Expires: reg.token.Expires}
	}
	existing, err := r.store.User(ctx, reg.req.User)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return sr, nil
	case err != nil:
		return sr, r.internal("user lookup", err)
	}
	sr.Current = existing.Identity
	old, err := keys.ParseIdentityPublic(existing.Identity)
	if err == nil && old.Equal(reg.identity) {
		return sr, nil
	}
	if reg.token == nil {
		return sr, wire.Errorf(wire.CodeUserExists, "user exists with another identity")
	}
	sr.Replace = true
	return sr, nil
}

// registerError maps a failed store.Register to what the client sees.
func (r *relay) registerError(err error) *wire.Error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrTokenUsed):
		return wire.Errorf(wire.CodeTokenUsed, "token already used")
	case errors.Is(err, store.ErrLimit):
		return wire.Errorf(wire.CodeLimit, "too many devices")
	}
	return r.internal("register", err)
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

// auditRegistration logs a registration: a new account, another device of
// one, or an identity replaced (its old devices revoked), and the token
// it used.
func (r *relay) auditRegistration(ctx context.Context, a addr.Address, sr store.Registration, revoked int) {
	switch {
	case revoked > 0:
		r.auditEvent(ctx, audit.IdentityReset, a.String(), string(a.User), fmt.Sprintf("%d devices revoked", revoked))
	case a.Device > 1:
		r.auditEvent(ctx, audit.DeviceLink, a.String(), a.String(), "")
	default:
		r.auditEvent(ctx, audit.Register, a.String(), string(a.User), string(r.registration))
	}
	if sr.Token != nil {
		r.auditEvent(ctx, audit.TokenUse, a.String(), string(a.User), "")
	}
}
