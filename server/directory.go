package server

import (
	"context"
	"errors"
	"net/http"

	"parley.dev/internal/addr"
	"parley.dev/internal/audit"
	"parley.dev/internal/fanout"
	"parley.dev/internal/keys"
	"parley.dev/internal/store"
	"parley.dev/internal/wire"
)

// handleDevices lists a user's identity and devices, so that a sender can
// encrypt to each device whose certificate it verifies.
func (r *relay) handleDevices(w http.ResponseWriter, req *http.Request, _ store.Device, _ []byte) {
	u, err := addr.ParseUserID(req.PathValue("user"))
	if err != nil {
		r.writeError(w, wire.Errorf(wire.CodeMalformed, "bad user ID in path"))
		return
	}
	f, werr := r.deviceList(req.Context(), u)
	r.answer(w, f, werr)
}

// answer writes f, or the error it is.
func (r *relay) answer(w http.ResponseWriter, f wire.Frame, werr *wire.Error) {
	if werr != nil {
		r.writeError(w, werr)
		return
	}
	r.writeFrame(w, f)
}

func (r *relay) deviceList(ctx context.Context, u addr.UserID) (wire.Frame, *wire.Error) {
	user, err := r.store.User(ctx, u)
	if errors.Is(err, store.ErrNotFound) {
		return nil, wire.Errorf(wire.CodeUnknownUser, "no such user")
	}
	if err != nil {
		return nil, r.internal("user lookup", err)
	}
	devs, err := r.store.Devices(ctx, u)
	if err != nil {
		return nil, r.internal("list devices", err)
	}
	list := &wire.DeviceList{User: u, Identity: user.Identity}
	for _, d := range devs[:min(len(devs), wire.MaxDevices)] {
		list.Devices = append(list.Devices, wire.DeviceInfo{Device: d.Address.Device, Key: d.Key, Cert: d.Cert})
	}
	return list, nil
}

// handleRevoke revokes a device of the caller's own user: its keys and
// mailbox are deleted and its connections closed.
func (r *relay) handleRevoke(w http.ResponseWriter, req *http.Request, dev store.Device, _ []byte) {
	target, werr := pathAddress(req)
	if werr != nil {
		r.writeError(w, werr)
		return
	}
	f, werr := r.revoke(req.Context(), dev.Address, target)
	r.answer(w, f, werr)
}

func (r *relay) revoke(ctx context.Context, by, target addr.Address) (wire.Frame, *wire.Error) {
	if target.User != by.User {
		return nil, wire.Errorf(wire.CodeForbidden, "a device can revoke only devices of its own user")
	}
	err := r.store.RevokeDevice(ctx, target)
	if errors.Is(err, store.ErrNotFound) {
		return nil, wire.Errorf(wire.CodeUnknownDevice, "no such device")
	}
	if err != nil {
		return nil, r.internal("revoke device", err)
	}
	r.log.Info("device revoked", "device", target.String(), "by", by.String())
	r.auditEvent(ctx, audit.DeviceRevoke, by.String(), target.String(), "")
	r.publish(target, fanout.Revoked)
	return &wire.OK{}, nil
}

// handleBundle hands out a prekey bundle of a device, each one-time key at
// most once, rate-limited per requesting device.
func (r *relay) handleBundle(w http.ResponseWriter, req *http.Request, dev store.Device, _ []byte) {
	target, werr := pathAddress(req)
	if werr != nil {
		r.writeError(w, werr)
		return
	}
	f, werr := r.bundle(req.Context(), dev.Address, target)
	r.answer(w, f, werr)
}

func (r *relay) bundle(ctx context.Context, by, target addr.Address) (wire.Frame, *wire.Error) {
	if !r.bundleL.allow(by.String()) {
		return nil, wire.Errorf(wire.CodeRateLimited, "too many bundle fetches from this device")
	}
	b, werr := r.takeBundle(ctx, target)
	if werr != nil {
		return nil, werr
	}
	r.checkLow(ctx, target)
	return b, nil
}

func (r *relay) takeBundle(ctx context.Context, target addr.Address) (*wire.Bundle, *wire.Error) {
	tdev, err := r.store.Device(ctx, target)
	if errors.Is(err, store.ErrNotFound) {
		return nil, wire.Errorf(wire.CodeUnknownDevice, "no such device")
	}
	if err != nil {
		return nil, r.internal("device lookup", err)
	}
	user, err := r.store.User(ctx, target.User)
	if err != nil {
		return nil, r.internal("user lookup", err)
	}
	sb, err := r.store.TakeBundle(ctx, target)
	if errors.Is(err, store.ErrNotFound) {
		return nil, wire.Errorf(wire.CodeNoPreKeys, "device has uploaded no prekeys")
	}
	if err != nil {
		return nil, r.internal("take bundle", err)
	}
	b := &wire.Bundle{
		Address: target, Identity: user.Identity, DeviceKey: tdev.Key, DeviceCert: tdev.Cert,
		Signed: wirePreKey(sb.Signed), KEM: wirePreKey(sb.KEM), KEMLastResort: sb.KEMLastResort,
	}
	if sb.OneTimeEC != nil {
		k := wirePreKey(*sb.OneTimeEC)
		b.OneTimeEC = &k
	}
	return b, nil
}

func wirePreKey(k store.PreKey) wire.PreKey {
	return wire.PreKey{ID: k.ID, Public: k.Public, Signature: k.Signature}
}

// checkLow tells a device, through its connection, when its one-time
// prekeys run low.
func (r *relay) checkLow(ctx context.Context, a addr.Address) {
	st, err := r.preKeyStatus(ctx, a)
	if err == nil && st.Low() {
		r.publish(a, fanout.PreKeysLow)
	}
}

func (r *relay) preKeyStatus(ctx context.Context, a addr.Address) (*wire.PreKeyStatus, error) {
	c, err := r.store.PreKeyCounts(ctx, a)
	if err != nil {
		return nil, err
	}
	return &wire.PreKeyStatus{
		OneTimeEC: uint32(c.OneTimeEC), OneTimeKEM: uint32(c.OneTimeKEM),
		LowWater: uint32(r.lowWater), Max: store.MaxOneTimePreKeys,
	}, nil
}

// handlePreKeyStatus tells a device how many one-time prekeys it has left.
func (r *relay) handlePreKeyStatus(w http.ResponseWriter, req *http.Request, dev store.Device, _ []byte) {
	f, werr := r.preKeyStatusOf(req.Context(), dev.Address)
	r.answer(w, f, werr)
}

func (r *relay) preKeyStatusOf(ctx context.Context, a addr.Address) (wire.Frame, *wire.Error) {
	st, err := r.preKeyStatus(ctx, a)
	if err != nil {
		return nil, r.internal("prekey counts", err)
	}
	return st, nil
}

// handleUploadPreKeys stores a device's own prekeys after checking every
// key and signature against its user's identity.
func (r *relay) handleUploadPreKeys(w http.ResponseWriter, req *http.Request, dev store.Device, body []byte) {
	m, err := wire.ParseAs[*wire.PreKeyUpload](body)
	if err != nil {
		r.writeError(w, asWireError(err))
		return
	}
	f, werr := r.uploadPreKeys(req.Context(), dev.Address, m)
	r.answer(w, f, werr)
}

func (r *relay) uploadPreKeys(ctx context.Context, a addr.Address, m *wire.PreKeyUpload) (wire.Frame, *wire.Error) {
	user, err := r.store.User(ctx, a.User)
	if err != nil {
		return nil, r.internal("user lookup", err)
	}
	id, err := keys.ParseIdentityPublic(user.Identity)
	if err != nil {
		return nil, r.internal("stored identity", err)
	}
	up, werr := checkUpload(id, a, m)
	if werr != nil {
		return nil, werr
	}
	err = r.store.PutPreKeys(ctx, a, up)
	switch {
	case errors.Is(err, store.ErrLimit):
		return nil, wire.Errorf(wire.CodeLimit, "too many one-time prekeys, or an ID already stored")
	case errors.Is(err, store.ErrInvalid):
		return nil, wire.Errorf(wire.CodeMalformed, "prekeys refused by the store")
	case err != nil:
		return nil, r.internal("put prekeys", err)
	}
	return r.preKeyStatusOf(ctx, a)
}
