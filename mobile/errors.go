package mobile

import (
	"context"
	"errors"

	"parley.dev/client"
)

// errKeystore marks an error returned by the app's Keystore callback.
var errKeystore = errors.New("the app's keystore failed")

// codes maps the client's sentinels to the stable codes the package doc
// lists, most specific first: errors.Is matches an error against its
// broader sentinel too (ErrRelayLocked is also ErrWiped, ErrQueued also
// its cause), so the first match wins. Codes are append-only.
var codes = []struct {
	err  error
	code string
}{
	{errKeystore, "keystore"},
	{client.ErrRelayLocked, "relay_locked"},
	{client.ErrRelayNeeded, "relay_needed"},
	{client.ErrRelayKeyUnknown, "relay_key_unknown"},
	{client.ErrWrongPIN, "wrong_pin"},
	{client.ErrLocked, "too_many_attempts"},
	{client.ErrWiped, "wiped"},
	{client.ErrWeakPIN, "weak_pin"},
	{client.ErrFactorMismatch, "factors"},
	{client.ErrExists, "exists"},
	{client.ErrNoVault, "no_vault"},
	{client.ErrCorrupt, "corrupt"},
	{client.ErrInUse, "in_use"},
	{client.ErrNotOpen, "locked"},
	{client.ErrNotRegistered, "not_registered"},
	{client.ErrRegistered, "registered"},
	{client.ErrNoServer, "no_server"},
	{client.ErrBadConfig, "bad_config"},
	{client.ErrQueued, "queued"},
	{client.ErrUntrusted, "untrusted"},
	{client.ErrRevoked, "revoked"},
	{client.ErrRateLimited, "rate_limited"},
	{client.ErrDisplaced, "displaced"},
	{client.ErrUnknownUser, "unknown_user"},
	{client.ErrUserExists, "user_exists"},
	{client.ErrToken, "token"},
	{client.ErrIdentityChanged, "identity_changed"},
	{client.ErrUnknownContact, "unknown_contact"},
	{client.ErrSafetyMismatch, "safety_mismatch"},
	{client.ErrListening, "listening"},
	{client.ErrUndecryptable, "undecryptable"},
	{client.ErrUnreadable, "unreadable"},
	{client.ErrTooLarge, "too_large"},
	{client.ErrQuota, "quota"},
	{client.ErrFileChanged, "file_changed"},
	{client.ErrNoAttachment, "no_attachment"},
	{client.ErrAttachmentGone, "attachment_gone"},
	{client.ErrAttachmentCorrupt, "attachment_corrupt"},
	{client.ErrGroupRefused, "group_refused"},
	{client.ErrUnknownGroup, "unknown_group"},
	{client.ErrNotGroupMember, "not_group_member"},
	{client.ErrNotGroupAdmin, "not_group_admin"},
	{client.ErrPushDisabled, "push_disabled"},
	{client.ErrPolicyForged, "policy_forged"},
	{client.ErrPolicyRollback, "policy_rollback"},
	{client.ErrPolicy, "policy"},
	{client.ErrExpired, "deleted"},
	{client.ErrInvalid, "invalid"},
	{context.DeadlineExceeded, "timeout"},
	{context.Canceled, "canceled"},
	{client.ErrUnreachable, "unreachable"},
	{client.ErrVaultTooNew, "vault_too_new"},
}

// codeError is every error the package returns: Java and Swift see its
// message, which starts with "parley:" and the code.
type codeError struct {
	code string // one of the codes of the package doc, without "parley:"
	err  error
}

// Error returns "parley:<code>: <what went wrong>".
func (e *codeError) Error() string { return "parley:" + e.code + ": " + e.err.Error() }

// Unwrap returns the client's error, for Go callers' errors.Is.
func (e *codeError) Unwrap() error { return e.err }

// wrap gives err its stable code; nil stays nil.
func wrap(err error) error {
	if err == nil {
		return nil
	}
	var e *codeError
	if errors.As(err, &e) {
		return err
	}
	return &codeError{code: codeOf(err), err: err}
}

// codeOf names err's code: a sentinel's, "relay" for a refusal of the
// relay no sentinel covers, else "internal".
func codeOf(err error) string {
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	var re *client.RelayError
	if errors.As(err, &re) {
		return "relay"
	}
	return "internal"
}

// invalid is an argument the facade itself refuses.
func invalid(what string) error {
	return &codeError{code: "invalid", err: errors.New(what)}
}
