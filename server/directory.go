package server

import (
	"context"
	"errors"
	"net/http"

	"parley.dev/internal/addr"
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
	user, err := r.store.User(req.Context(), u)
	if errors.Is(err, store.ErrNotFound) {
		r.writeError(w, wire.Errorf(wire.CodeUnknownUser, "no such user"))
		return
	}
	if err != nil {
		r.writeError(w, r.internal("user lookup", err))
		return
	}
	devs, err := r.store.Devices(req.Context(), u)
	if err != nil {
		r.writeError(w, r.internal("list devices", err))
		return
	}
	list := &wire.DeviceList{User: u, Identity: user.Identity}
	for _, d := range devs[:min(len(devs), wire.MaxDevices)] {
		list.Devices = append(list.Devices, wire.DeviceInfo{Device: d.Address.Device, Key: d.Key, Cert: d.Cert})
	}
	r.writeFrame(w, list)
}

// handleRevoke revokes a device of the caller's own user: its keys and
// mailbox are deleted and its connections closed.
func (r *relay) handleRevoke(w http.ResponseWriter, req *http.Request, dev store.Device, _ []byte) {
	target, werr := pathAddress(req)
	if werr != nil {
		r.writeError(w, werr)
		return
	}
	if target.User != dev.Address.User {
		r.writeError(w, wire.Errorf(wire.CodeForbidden, "a device can revoke only devices of its own user"))
		return
	}
	err := r.store.RevokeDevice(req.Context(), target)
	if errors.Is(err, store.ErrNotFound) {
		r.writeError(w, wire.Errorf(wire.CodeUnknownDevice, "no such device"))
		return
	}
	if err != nil {
		r.writeError(w, r.internal("revoke device", err))
		return
	}
	r.log.Info("device revoked", "device", target.String(), "by", dev.Address.String())
	r.publish(target, fanout.Revoked)
	r.writeFrame(w, &wire.OK{})
}

// handleBundle hands out a prekey bundle of a device, each one-time key at
// most once, rate-limited per requesting device.
func (r *relay) handleBundle(w http.ResponseWriter, req *http.Request, dev store.Device, _ []byte) {
	target, werr := pathAddress(req)
	if werr != nil {
		r.writeError(w, werr)
		return
	}
	if !r.bundleL.allow(dev.Address.String()) {
		r.writeError(w, wire.Errorf(wire.CodeRateLimited, "too many bundle fetches from this device"))
		return
	}
	b, werr := r.takeBundle(req.Context(), target)
	if werr != nil {
		r.writeError(w, werr)
		return
	}
	r.writeFrame(w, b)
	r.checkLow(req.Context(), target)
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
	st, err := r.preKeyStatus(req.Context(), dev.Address)
	if err != nil {
		r.writeError(w, r.internal("prekey counts", err))
		return
	}
	r.writeFrame(w, st)
}

// handleUploadPreKeys stores a device's own prekeys after checking every
// key and signature against its user's identity.
func (r *relay) handleUploadPreKeys(w http.ResponseWriter, req *http.Request, dev store.Device, body []byte) {
	m, err := wire.ParseAs[*wire.PreKeyUpload](body)
	if err != nil {
		r.writeError(w, asWireError(err))
		return
	}
	user, err := r.store.User(req.Context(), dev.Address.User)
	if err != nil {
		r.writeError(w, r.internal("user lookup", err))
		return
	}
	id, err := keys.ParseIdentityPublic(user.Identity)
	if err != nil {
		r.writeError(w, r.internal("stored identity", err))
		return
	}
	up, werr := checkUpload(id, dev.Address, m)
	if werr != nil {
		r.writeError(w, werr)
		return
	}
	err = r.store.PutPreKeys(req.Context(), dev.Address, up)
	switch {
	case errors.Is(err, store.ErrLimit):
		r.writeError(w, wire.Errorf(wire.CodeLimit, "too many one-time prekeys, or an ID already stored"))
		return
	case errors.Is(err, store.ErrInvalid):
		r.writeError(w, wire.Errorf(wire.CodeMalformed, "prekeys refused by the store"))
		return
	case err != nil:
		r.writeError(w, r.internal("put prekeys", err))
		return
	}
	r.handlePreKeyStatus(w, req, dev, nil)
}
