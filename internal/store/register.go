package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"parley.dev/internal/addr"
)

// qLockIdentity reads a user's identity and last device ID, locking the
// row on PostgreSQL until commit.
const qLockIdentity = `SELECT identity, last_device FROM users WHERE user_id = $1` + forUpdate

// qTokenUsed finds a used token.
const qTokenUsed = `SELECT 1 FROM used_tokens WHERE hash = $1`

// registerQueries are the writer's statements of this file that
// queries.go does not list.
var registerQueries = []string{qLockIdentity, qTokenUsed}

// registerRetries bounds Register's own retries after another relay node
// won a race between its checks and its writes (PostgreSQL only).
const registerRetries = 3

func (s *sqlStore) Register(ctx context.Context, r Registration) (Registered, error) {
	if err := checkRegistration(&r, s.opt.Now); err != nil {
		return Registered{}, err
	}
	var out Registered
	var err error
	for range registerRetries {
		err = s.w.do(ctx, r.User.ID, true, 1, func(t *txn) error {
			out = Registered{}
			return register(t, &r, &out)
		})
		if !errors.Is(err, errRaced) {
			break
		}
	}
	if errors.Is(err, errRaced) {
		err = fmt.Errorf("%w: user %q", ErrConflict, string(r.User.ID))
	}
	return out, err
}

// errRaced is returned after register has written, when a concurrent
// transaction (another node) committed the same token or user first. It
// is not a clean error, so the writer rolls the transaction back; Register
// then runs it again and the checks see the winner's rows.
var errRaced = errors.New("store: registration raced")

func checkRegistration(r *Registration, now func() time.Time) error {
	if err := checkUser(r.User.ID); err != nil {
		return err
	}
	stored := r.Current == nil || r.Replace // else the identity is not used
	for _, v := range []struct {
		name    string
		b       []byte
		emptyOK bool
	}{{"identity", r.User.Identity, !stored}, {"device key", r.Device.Key, false}, {"device certificate", r.Device.Cert, false}} {
		if err := checkValue(v.name, v.b, v.emptyOK); err != nil {
			return err
		}
	}
	if r.Current != nil {
		if err := checkValue("current identity", r.Current, false); err != nil {
			return err
		}
	}
	if r.Replace && r.Current == nil {
		return fmt.Errorf("%w: Replace without a current identity", ErrInvalid)
	}
	r.User.Created, r.Device.Created = orNow(r.User.Created, now), orNow(r.Device.Created, now)
	for _, tm := range []time.Time{r.User.Created, r.Device.Created} {
		if err := checkTime("registration time", tm); err != nil {
			return err
		}
	}
	if r.Token != nil {
		if err := checkTime("token expiry", r.Token.Expires); err != nil {
			return err
		}
	}
	if r.MaxDevices <= 0 || r.MaxDevices > MaxDevices {
		r.MaxDevices = MaxDevices
	}
	return nil
}

// register checks everything before it writes anything, so that each
// error it returns before writing leaves the batch's other work alone;
// once it has written, only errRaced (which aborts the transaction) or a
// failed statement can follow.
func register(t *txn, r *Registration, out *Registered) error {
	last, err := registerChecks(t, r)
	if err != nil {
		return err
	}
	u := string(r.User.ID)
	if r.Token != nil {
		if n, err := t.exec(qUseToken, r.Token.Hash[:], micros(r.Token.Expires)); err != nil || n == 0 {
			return orRaced(err)
		}
	}
	switch {
	case r.Current == nil:
		if n, err := t.exec(qCreateUser, u, r.User.Identity, micros(r.User.Created)); err != nil || n == 0 {
			return orRaced(err)
		}
		out.NewUser = true
	case r.Replace:
		if _, err := t.exec(qReplaceIdentity, u, r.User.Identity); err != nil {
			return err
		}
		if out.Revoked, err = deleteDevices(t, r.User.ID); err != nil {
			return err
		}
	}
	if _, err := t.exec(qSetLastDevice, u, last+1); err != nil {
		return err
	}
	if _, err := t.exec(qAddDevice, u, last+1, r.Device.Key, r.Device.Cert, micros(r.Device.Created)); err != nil {
		return err
	}
	out.Device = addr.DeviceID(last + 1)
	return nil
}

// registerChecks reads (and on PostgreSQL locks) what the registration
// depends on and returns the user's last device ID.
func registerChecks(t *txn, r *Registration) (int64, error) {
	if r.Token != nil {
		var one int
		if used, err := t.queryRow(qTokenUsed, []any{r.Token.Hash[:]}, &one); err != nil || used {
			return 0, orErr(err, ErrTokenUsed)
		}
	}
	u := string(r.User.ID)
	var identity []byte
	var last int64
	exists, err := t.queryRow(qLockIdentity, []any{u}, &identity, &last)
	switch {
	case err != nil:
		return 0, err
	case exists != (r.Current != nil) || exists && !bytes.Equal(identity, r.Current):
		return 0, fmt.Errorf("%w: user %q is not as read", ErrConflict, u)
	case last >= math.MaxUint32:
		return 0, fmt.Errorf("%w: user %q has used every device ID", ErrLimit, u)
	case !exists || r.Replace:
		return last, nil // no device will remain beside the new one
	}
	var n int64
	if _, err := t.queryRow(qCountDevices, []any{u}, &n); err != nil {
		return 0, err
	}
	if n >= int64(r.MaxDevices) {
		return 0, fmt.Errorf("%w: user %q has %d devices", ErrLimit, u, n)
	}
	return last, nil
}

// orRaced returns err, or errRaced when an insert found its row taken.
func orRaced(err error) error { return orErr(err, errRaced) }

func orErr(err, otherwise error) error {
	if err != nil {
		return err
	}
	return otherwise
}
