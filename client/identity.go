package client

import (
	"fmt"

	"parley.dev/internal/addr"
	"parley.dev/internal/keys"
	"parley.dev/internal/vault"
)

// Trust rules for another user's identity (attack 5):
//   - the first identity seen is trusted (trust on first use) silently;
//   - a different one replaces it if the contact was not verified, and an
//     EventIdentityChanged reports it;
//   - if the contact was verified, it is kept as Pending: sending is held
//     (ErrIdentityChanged) until AcceptIdentity or a Verify of the new
//     number, and messages under it are marked NewIdentity.

// loadContact reads user's record; found is false if there is none.
func loadContact(tx *vault.Tx, user addr.UserID) (rec contactRec, found bool, err error) {
	err = getJSON(tx, nsContacts, string(user), &rec)
	if notFound(err) {
		return contactRec{V: recordVersion}, false, nil
	}
	return rec, err == nil, err
}

func (r *contactRec) identity() (keys.IdentityPublic, error) {
	return keys.ParseIdentityPublic(r.Identity)
}

func (r *contactRec) pending() (keys.IdentityPublic, bool) {
	if r.Pending == nil {
		return keys.IdentityPublic{}, false
	}
	p, err := keys.ParseIdentityPublic(r.Pending)
	return p, err == nil
}

// observeIdentity applies the trust rules to user presenting id. held
// reports whether sending to user is held; change is the event to emit,
// if any.
func observeIdentity(tx *vault.Tx, user addr.UserID, id keys.IdentityPublic) (held bool, change *IdentityChange, err error) {
	rec, found, err := loadContact(tx, user)
	if err != nil {
		return false, nil, err
	}
	if !found {
		rec.Identity = id.Bytes()
		return false, nil, putJSON(tx, nsContacts, string(user), &rec)
	}
	cur, err := rec.identity()
	if err != nil {
		return false, nil, fmt.Errorf("client: stored identity of %s: %w", user, err)
	}
	p, hasPending := rec.pending()
	switch {
	case cur.Equal(id):
		return hasPending, nil, nil
	case hasPending && p.Equal(id):
		return true, nil, nil
	case !rec.Verified:
		rec.Identity, rec.Pending = id.Bytes(), nil
		change = &IdentityChange{User: string(user)}
	default:
		rec.Pending = id.Bytes()
		change = &IdentityChange{User: string(user), Held: true}
	}
	return change.Held, change, putJSON(tx, nsContacts, string(user), &rec)
}

// presentedIdentity says how an identity stands for a received message.
// It reports whether the message is under a pending (unaccepted)
// identity.
func underPending(tx *vault.Tx, user addr.UserID, id keys.IdentityPublic) (bool, error) {
	rec, found, err := loadContact(tx, user)
	if err != nil || !found {
		return false, err
	}
	p, ok := rec.pending()
	return ok && p.Equal(id), nil
}
