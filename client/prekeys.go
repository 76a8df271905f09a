package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"parley.dev/internal/keys"
	"parley.dev/internal/vault"
	"parley.dev/internal/wire"
)

// Prekey policy.
const (
	// oneTimeTarget is how many one-time prekeys of each kind the device
	// keeps at the relay: uploaded at registration, topped up when the
	// relay says they run low.
	oneTimeTarget = wire.MaxPreKeysPerUpload
	// signedPreKeyLifetime is how long a signed prekey (and the
	// last-resort KEM prekey, rotated with it) stays current.
	signedPreKeyLifetime = 7 * 24 * time.Hour
	// preKeyGrace is how long a replaced signed or last-resort prekey is
	// kept, so that first messages written to it while the relay still
	// handed it out decrypt: the relay's envelope TTL (30 days) plus a day.
	preKeyGrace = 31 * 24 * time.Hour
)

// keyEntry is one signed or last-resort prekey of this device.
type keyEntry struct {
	ID       uint32 `json:"id"`
	Created  int64  `json:"created"`           // Unix ms
	Retired  int64  `json:"retired,omitempty"` // Unix ms; 0 while current
	Uploaded bool   `json:"uploaded,omitempty"`
}

// preKeyMeta is the bookkeeping of this device's prekeys; the secrets are
// records of nsPreKeys.
type preKeyMeta struct {
	V          int        `json:"v"`
	NextSigned uint32     `json:"next_signed"`
	NextEC     uint32     `json:"next_ec"`
	NextKEM    uint32     `json:"next_kem"`
	Signed     []keyEntry `json:"signed"`      // oldest first; the last is current
	LastResort []keyEntry `json:"last_resort"` // oldest first; the last is current
	// PendingEC and PendingKEM are one-time prekeys generated and saved
	// but not yet confirmed uploaded.
	PendingEC  []uint32 `json:"pending_ec,omitempty"`
	PendingKEM []uint32 `json:"pending_kem,omitempty"`
}

func spkKey(id keys.PreKeyID) string { return "spk/" + strconv.FormatUint(uint64(id), 10) }
func otkKey(id keys.PreKeyID) string { return "otk/" + strconv.FormatUint(uint64(id), 10) }
func kemKey(id keys.PreKeyID) string { return "kem/" + strconv.FormatUint(uint64(id), 10) }

func loadPreKeyMeta(tx *vault.Tx) (*preKeyMeta, error) {
	m := &preKeyMeta{V: recordVersion, NextSigned: 1, NextEC: 1, NextKEM: 1}
	err := getJSON(tx, nsAccount, keyPreKeys, m)
	if notFound(err) {
		return m, nil
	}
	return m, err
}

func (m *preKeyMeta) save(tx *vault.Tx) error { return putJSON(tx, nsAccount, keyPreKeys, m) }

// rotate makes a new signed prekey and last-resort KEM prekey current and
// retires the old ones.
func (m *preKeyMeta) rotate(tx *vault.Tx, now time.Time) error {
	spk, err := keys.GenerateSignedPreKey(keys.PreKeyID(m.NextSigned))
	if err != nil {
		return err
	}
	lr, err := keys.GenerateKEMPreKey(keys.PreKeyID(m.NextKEM), true)
	if err != nil {
		return err
	}
	if err := tx.Put(nsPreKeys, spkKey(spk.Public().ID), spk.MarshalSecret()); err != nil {
		return err
	}
	if err := tx.Put(nsPreKeys, kemKey(lr.Public().ID), lr.MarshalSecret()); err != nil {
		return err
	}
	ms := now.UnixMilli()
	m.Signed = append(retireAll(m.Signed, ms), keyEntry{ID: m.NextSigned, Created: ms})
	m.LastResort = append(retireAll(m.LastResort, ms), keyEntry{ID: m.NextKEM, Created: ms})
	m.NextSigned++
	m.NextKEM++
	return nil
}

func retireAll(es []keyEntry, ms int64) []keyEntry {
	for i := range es {
		if es[i].Retired == 0 {
			es[i].Retired = ms
		}
	}
	return es
}

// addOneTime generates and saves one-time prekeys, pending upload.
func (m *preKeyMeta) addOneTime(tx *vault.Tx, nEC, nKEM int) error {
	for range nEC {
		k, err := keys.GenerateOneTimePreKey(keys.PreKeyID(m.NextEC))
		if err != nil {
			return err
		}
		if err := tx.Put(nsPreKeys, otkKey(k.Public().ID), k.MarshalSecret()); err != nil {
			return err
		}
		m.PendingEC = append(m.PendingEC, m.NextEC)
		m.NextEC++
	}
	for range nKEM {
		k, err := keys.GenerateKEMPreKey(keys.PreKeyID(m.NextKEM), false)
		if err != nil {
			return err
		}
		if err := tx.Put(nsPreKeys, kemKey(k.Public().ID), k.MarshalSecret()); err != nil {
			return err
		}
		m.PendingKEM = append(m.PendingKEM, m.NextKEM)
		m.NextKEM++
	}
	return nil
}

// dropRetired deletes signed and last-resort prekeys retired more than
// preKeyGrace ago.
func (m *preKeyMeta) dropRetired(tx *vault.Tx, now time.Time) error {
	cutoff := now.Add(-preKeyGrace).UnixMilli()
	old := func(e keyEntry) bool { return e.Retired != 0 && e.Retired < cutoff }
	for _, e := range m.Signed {
		if old(e) {
			if err := tx.Delete(nsPreKeys, spkKey(keys.PreKeyID(e.ID))); err != nil {
				return err
			}
		}
	}
	for _, e := range m.LastResort {
		if old(e) {
			if err := tx.Delete(nsPreKeys, kemKey(keys.PreKeyID(e.ID))); err != nil {
				return err
			}
		}
	}
	n := len(m.Signed)
	m.Signed = slices.DeleteFunc(m.Signed, old)
	m.LastResort = slices.DeleteFunc(m.LastResort, old)
	if len(m.Signed) == n {
		return nil
	}
	if err := m.save(tx); err != nil {
		return err
	}
	return pruneAccepted(tx) // their first messages can no longer be replayed
}

// pendingUpload is what one upload carries, to be marked done after.
type pendingUpload struct {
	signed, lastResort bool
	ec, kem            []uint32
}

// upload builds the upload of everything not yet at the relay: the
// current signed and last-resort prekeys if new, and pending one-time
// prekeys (at most MaxPreKeysPerUpload of each kind).
func (m *preKeyMeta) upload(tx *vault.Tx, a *account) (*wire.PreKeyUpload, pendingUpload, error) {
	up := &wire.PreKeyUpload{}
	var p pendingUpload
	if n := len(m.Signed); n > 0 && !m.Signed[n-1].Uploaded {
		k, err := signedSecret(tx, keys.PreKeyID(m.Signed[n-1].ID))
		if err != nil {
			return nil, p, err
		}
		sig, err := a.identity.SignSignedPreKey(a.self(), k.Public())
		if err != nil {
			return nil, p, err
		}
		up.Signed = &wire.PreKey{ID: m.Signed[n-1].ID, Public: k.Public().Bytes(), Signature: sig}
		p.signed = true
	}
	if n := len(m.LastResort); n > 0 && !m.LastResort[n-1].Uploaded {
		k, err := kemSecret(tx, keys.PreKeyID(m.LastResort[n-1].ID))
		if err != nil {
			return nil, p, err
		}
		sig, err := a.identity.SignKEMPreKey(a.self(), k.Public())
		if err != nil {
			return nil, p, err
		}
		up.LastResortKEM = &wire.PreKey{ID: m.LastResort[n-1].ID, Public: k.Public().Bytes(), Signature: sig}
		p.lastResort = true
	}
	p.ec = m.PendingEC[:min(len(m.PendingEC), wire.MaxPreKeysPerUpload)]
	for _, n := range p.ec {
		k, err := oneTimeSecret(tx, keys.PreKeyID(n))
		if err != nil {
			return nil, p, err
		}
		up.OneTimeEC = append(up.OneTimeEC, wire.PreKey{ID: n, Public: k.Public().Bytes()})
	}
	p.kem = m.PendingKEM[:min(len(m.PendingKEM), wire.MaxPreKeysPerUpload)]
	for _, n := range p.kem {
		k, err := kemSecret(tx, keys.PreKeyID(n))
		if err != nil {
			return nil, p, err
		}
		sig, err := a.identity.SignKEMPreKey(a.self(), k.Public())
		if err != nil {
			return nil, p, err
		}
		up.OneTimeKEM = append(up.OneTimeKEM, wire.PreKey{ID: n, Public: k.Public().Bytes(), Signature: sig})
	}
	return up, p, nil
}

// pending reports whether anything waits for upload.
func (m *preKeyMeta) pending() bool {
	last := func(es []keyEntry) bool { return len(es) > 0 && !es[len(es)-1].Uploaded }
	return last(m.Signed) || last(m.LastResort) || len(m.PendingEC) > 0 || len(m.PendingKEM) > 0
}

func (p pendingUpload) empty() bool {
	return !p.signed && !p.lastResort && len(p.ec) == 0 && len(p.kem) == 0
}

// uploaded marks p as done.
func (m *preKeyMeta) uploaded(p pendingUpload) {
	if p.signed {
		m.Signed[len(m.Signed)-1].Uploaded = true
	}
	if p.lastResort {
		m.LastResort[len(m.LastResort)-1].Uploaded = true
	}
	m.PendingEC = slices.DeleteFunc(m.PendingEC, func(n uint32) bool { return slices.Contains(p.ec, n) })
	m.PendingKEM = slices.DeleteFunc(m.PendingKEM, func(n uint32) bool { return slices.Contains(p.kem, n) })
}

func signedSecret(tx *vault.Tx, id keys.PreKeyID) (*keys.SignedPreKey, error) {
	b, err := tx.Get(nsPreKeys, spkKey(id))
	if err != nil {
		return nil, err
	}
	return keys.ParseSignedPreKeySecret(b)
}

func oneTimeSecret(tx *vault.Tx, id keys.PreKeyID) (*keys.OneTimePreKey, error) {
	b, err := tx.Get(nsPreKeys, otkKey(id))
	if err != nil {
		return nil, err
	}
	return keys.ParseOneTimePreKeySecret(b)
}

func kemSecret(tx *vault.Tx, id keys.PreKeyID) (*keys.KEMPreKey, error) {
	b, err := tx.Get(nsPreKeys, kemKey(id))
	if err != nil {
		return nil, err
	}
	return keys.ParseKEMPreKeySecret(b)
}

// vaultPreKeys looks this device's prekey secrets up for PQXDH's
// responder, read only. It remembers a storage failure (as opposed to an
// unknown ID) so that the caller does not mistake it for a bad message.
type vaultPreKeys struct {
	tx  *vault.Tx
	err error
}

func (p *vaultPreKeys) note(err error) error {
	if err != nil && !notFound(err) && p.err == nil {
		p.err = err
	}
	return err
}

func (p *vaultPreKeys) SignedPreKey(id keys.PreKeyID) (*keys.SignedPreKey, error) {
	k, err := signedSecret(p.tx, id)
	return k, p.note(err)
}

func (p *vaultPreKeys) OneTimePreKey(id keys.PreKeyID) (*keys.OneTimePreKey, error) {
	k, err := oneTimeSecret(p.tx, id)
	return k, p.note(err)
}

func (p *vaultPreKeys) KEMPreKey(id keys.PreKeyID) (*keys.KEMPreKey, error) {
	k, err := kemSecret(p.tx, id)
	return k, p.note(err)
}

// uploadPreKeys uploads whatever the relay does not have yet.
func (c *Client) uploadPreKeys(ctx context.Context) error {
	c.preKeyMu.Lock()
	defer c.preKeyMu.Unlock()
	return c.uploadPreKeysLocked(ctx)
}

func (c *Client) uploadPreKeysLocked(ctx context.Context) error {
	v, a, err := c.registered()
	if err != nil {
		return err
	}
	var up *wire.PreKeyUpload
	var p pendingUpload
	err = v.Update(func(tx *vault.Tx) error {
		m, err := loadPreKeyMeta(tx)
		if err != nil {
			return err
		}
		up, p, err = m.upload(tx, a)
		return err
	})
	if err != nil || p.empty() {
		return vaultErr(err)
	}
	rc, err := c.relayClient()
	if err != nil {
		return err
	}
	_, err = rc.UploadPreKeys(ctx, a.auth(), up)
	if errors.Is(err, wire.CodeLimit) && (len(p.ec) > 0 || len(p.kem) > 0) {
		// Some one-time keys are at the relay already (an earlier answer
		// was lost) or it holds its maximum: give up on these one-time
		// keys and send the rest.
		c.log.Warn("relay refused one-time prekeys; dropping them", "ec", len(p.ec), "kem", len(p.kem))
		up.OneTimeEC, up.OneTimeKEM = nil, nil
		if up.Signed == nil && up.LastResortKEM == nil {
			err = nil
		} else {
			_, err = rc.UploadPreKeys(ctx, a.auth(), up)
		}
	}
	if err != nil {
		return relayErr(err)
	}
	return vaultErr(v.Update(func(tx *vault.Tx) error {
		m, err := loadPreKeyMeta(tx)
		if err != nil {
			return err
		}
		m.uploaded(p)
		return m.save(tx)
	}))
}

// maintainPreKeys rotates the signed and last-resort prekeys when due,
// forgets retired ones past their grace, and uploads anything pending.
func (c *Client) maintainPreKeys(ctx context.Context) error {
	c.preKeyMu.Lock()
	defer c.preKeyMu.Unlock()
	v, _, err := c.registered()
	if err != nil {
		return err
	}
	now := c.clock()
	err = v.Update(func(tx *vault.Tx) error {
		m, err := loadPreKeyMeta(tx)
		if err != nil {
			return err
		}
		n := len(m.Signed)
		if n == 0 || now.Sub(time.UnixMilli(m.Signed[n-1].Created)) >= signedPreKeyLifetime {
			c.log.Info("rotating signed prekey")
			if err := m.rotate(tx, now); err != nil {
				return err
			}
		}
		if err := m.dropRetired(tx, now); err != nil {
			return err
		}
		return m.save(tx)
	})
	if err != nil {
		return vaultErr(err)
	}
	return c.uploadPreKeysLocked(ctx)
}

// replenish tops one-time prekeys up to oneTimeTarget when the relay's
// status says they run low.
func (c *Client) replenish(ctx context.Context, st *wire.PreKeyStatus) error {
	if !st.Low() {
		return nil
	}
	c.preKeyMu.Lock()
	defer c.preKeyMu.Unlock()
	v, _, err := c.registered()
	if err != nil {
		return err
	}
	need := func(have uint32) int {
		room := int(st.Max) - int(have)
		return max(0, min(c.oneTimeTarget()-int(have), room))
	}
	err = v.Update(func(tx *vault.Tx) error {
		m, err := loadPreKeyMeta(tx)
		if err != nil {
			return err
		}
		nEC := max(0, need(st.OneTimeEC)-len(m.PendingEC))
		nKEM := max(0, need(st.OneTimeKEM)-len(m.PendingKEM))
		if nEC == 0 && nKEM == 0 {
			return nil
		}
		c.log.Info("replenishing one-time prekeys", "ec", nEC, "kem", nKEM)
		if err := m.addOneTime(tx, nEC, nKEM); err != nil {
			return err
		}
		return m.save(tx)
	})
	if err != nil {
		return vaultErr(err)
	}
	return c.uploadPreKeysLocked(ctx)
}

// oneTimeTarget is how many one-time prekeys of each kind to keep at the
// relay.
func (c *Client) oneTimeTarget() int {
	if c.oneTime > 0 {
		return c.oneTime
	}
	return oneTimeTarget
}

// checkPreKeys asks the relay how many one-time prekeys are left and
// replenishes them if low.
func (c *Client) checkPreKeys(ctx context.Context) error {
	a, rc, err := c.relayAs()
	if err != nil {
		return err
	}
	st, err := rc.PreKeyStatus(ctx, a.auth())
	if err != nil {
		return relayErr(err)
	}
	if err := c.replenish(ctx, st); err != nil {
		return fmt.Errorf("replenishing prekeys: %w", err)
	}
	return nil
}
