package client

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"parley.dev/client/internal/relay"
	"parley.dev/internal/vault"
	"parley.dev/internal/wire"
)

// Errors callers branch on with errors.Is. Each says what the user should
// do next; the messages are for logs, the sentinels for programs.
var (
	// ErrExists: Create found a vault in Home already. Unlock it instead.
	ErrExists = errors.New("client: a Parley vault already exists in this home directory")
	// ErrNoVault: Unlock found no vault in Home. Create one first.
	ErrNoVault = errors.New("client: no Parley vault in this home directory")
	// ErrWrongPIN: the PIN is wrong. The error is a *PINError telling how
	// many attempts are left and when the next is allowed.
	ErrWrongPIN = errors.New("client: wrong PIN")
	// ErrLocked: too many wrong PINs; no PIN is tried before
	// PINError.RetryAt.
	ErrLocked = errors.New("client: locked after too many wrong PINs")
	// ErrWiped: the vault destroyed its key after too many wrong PINs.
	// Its data is gone for good: Create a new vault and register again.
	ErrWiped = errors.New("client: vault wiped after too many wrong PINs")
	// ErrCorrupt: a file of the vault was tampered with or truncated (or
	// the disk damaged it). Nothing read from it is trusted, and it is not
	// a wrong PIN. Restore Home from a backup, or start over (Create a new
	// vault elsewhere and Register again).
	ErrCorrupt = errors.New("client: the vault is damaged")
	// ErrVaultTooNew: the vault was written by a newer version of this
	// package, whose format this one cannot read. Nothing was changed:
	// update the app. (It is not ErrCorrupt, which suggests starting over.)
	ErrVaultTooNew = errors.New("client: the vault was written by a newer version")
	// ErrInUse: another process has this home directory's vault open.
	ErrInUse = errors.New("client: the vault is in use by another process")
	// ErrNotOpen: the Client has not been unlocked (call Create or
	// Unlock), or was closed.
	ErrNotOpen = errors.New("client: not unlocked")
	// ErrNotRegistered: the device has no account yet. Call Register.
	ErrNotRegistered = errors.New("client: not registered")
	// ErrRegistered: Register was called on a registered device.
	ErrRegistered = errors.New("client: already registered")
	// ErrNoServer: no relay URL is known. Set Client.Server.
	ErrNoServer = errors.New("client: no relay URL configured")
	// ErrBadConfig: Server, CAFile or Pins are unusable (not https, no
	// certificate in the file, fewer than two pins ...).
	ErrBadConfig = errors.New("client: invalid relay configuration")

	// ErrUnreachable: the relay could not be reached. Messages wait in
	// the encrypted outbox and go out on the next Sync, Listen or Send.
	ErrUnreachable = errors.New("client: relay unreachable")
	// ErrQueued: Send stored the message in the encrypted outbox (or
	// SendFile stored the file's upload), but the relay was unreachable or
	// refused it for now (rate limit, full mailbox, overload). It goes out
	// by itself on the next Sync, Listen or Send, an upload where it
	// stopped: do not send it again. The error also matches its cause
	// (ErrUnreachable, ErrRateLimited, a *RelayError ...).
	ErrQueued = errors.New("client: queued: will be sent at the next sync")
	// ErrExpired: the message was deleted before the send could confirm
	// it: its disappearing-message timer (or the retention policy) ran out
	// while it was still waiting, queued or uploading. No record of it is
	// kept. It was not sent, unless the deletion overlapped its very
	// submission: then one copy may have reached the relay, which keeps it
	// no longer than the second or so the timer had left.
	ErrExpired = errors.New("client: deleted by its timer before it was sent")
	// ErrUntrusted: the relay's certificate does not verify (wrong CA
	// file, wrong host name, or no pinned key matches). Nothing was sent.
	ErrUntrusted = errors.New("client: relay certificate not trusted")
	// ErrRevoked: the relay no longer accepts this device (it was
	// revoked, or its user registered again elsewhere with a token).
	ErrRevoked = errors.New("client: this device is not accepted by the relay")
	// ErrRateLimited: the relay asks to slow down. Try again later.
	ErrRateLimited = errors.New("client: rate limited by the relay")
	// ErrDisplaced: a newer relay connection of this device (another
	// Listen of the same account, say) took this one's place; the relay
	// keeps a few per device. Listen returns it rather than take the
	// place back.
	ErrDisplaced = errors.New("client: a newer connection of this device replaced this one")
	// ErrUnknownUser: no such user on the relay (or it has no devices).
	ErrUnknownUser = errors.New("client: unknown user")
	// ErrUserExists: Register was refused because the user name is taken
	// by another identity. Choose another name (or use a token).
	ErrUserExists = errors.New("client: user name taken")
	// ErrToken: the relay needs a registration token, or refused the one
	// given (forged, for another user, used or expired). Get a new one.
	ErrToken = errors.New("client: registration token missing or refused")

	// ErrIdentityChanged: the contact's identity changed after you
	// verified it, so sending to them is held. Compare the new safety
	// number, then AcceptIdentity (or Verify the new number).
	ErrIdentityChanged = errors.New("client: contact's identity changed; sending held")
	// ErrUnknownContact: no identity is known for this user yet: send or
	// receive a message first.
	ErrUnknownContact = errors.New("client: no known identity for this user")
	// ErrSafetyMismatch: the safety number given is not this contact's.
	// Do not mark them verified: someone may be in the middle.
	ErrSafetyMismatch = errors.New("client: safety number does not match")
	// ErrListening: Sync or Listen is already running on this Client.
	ErrListening = errors.New("client: Sync or Listen already running")
	// ErrUnreadable is the Err of an EventError for a message that could
	// not be decrypted or parsed and was dropped; nothing of it is stored.
	// Ask the sender to send it again.
	ErrUnreadable = errors.New("client: unreadable message dropped")
	// ErrUndecryptable is the Err of an EventError for a real message
	// whose key is gone: it arrived after more than 2,000 later messages
	// of the same sender (its skipped key was discarded), or the sender's
	// app was restored from a backup and wrote it with a key already
	// used. Show "a message could not be decrypted" in the conversation:
	// the event's Message names the sender (Contact, or your own user for
	// a copy from another of your devices, then Outgoing) and the message
	// ID, without text. Ask the sender to send it again. It also matches
	// ErrUnreadable. A true duplicate (a message ID already stored) is
	// dropped silently instead.
	ErrUndecryptable error = &kindError{msg: "client: a message could not be decrypted", kind: ErrUnreadable}
	// ErrInvalid: an argument is malformed (a user name, an empty or too
	// long text, a link code ...).
	ErrInvalid = errors.New("client: invalid argument")
)

// kindError is a sentinel that is also an instance of a broader one.
type kindError struct {
	msg  string
	kind error
}

func (e *kindError) Error() string        { return e.msg }
func (e *kindError) Is(target error) bool { return target == e.kind }

// PINError reports a wrong PIN (Err is ErrWrongPIN) or a vault locked by
// too many (Err is ErrLocked). errors.Is matches it against Err.
type PINError struct {
	Err error
	// Remaining is how many more wrong PINs wipe the vault, or -1 when
	// the vault never wipes (WipeAfter is 0) and has no relay factor.
	Remaining int
	// Relay reports that Remaining is the relay's count: that many more
	// wrong PINs in a row and the relay destroys the vault's key.
	Relay bool
	// RetryAt is when the next attempt is allowed; zero if at once.
	RetryAt time.Time
}

func (e *PINError) Error() string {
	if e.RetryAt.IsZero() {
		return e.Err.Error()
	}
	return fmt.Sprintf("%v; next attempt allowed at %s", e.Err, e.RetryAt.Format(time.RFC3339))
}

func (e *PINError) Unwrap() error { return e.Err }

// RelayError is an answer of the relay that no sentinel above covers.
// Code is the relay's stable error name (such as "mailbox-full").
type RelayError struct {
	Code   string
	Detail string
}

func (e *RelayError) Error() string { return "client: relay refused: " + e.Code + ": " + e.Detail }

// vaultErr maps the vault's errors to this package's.
func vaultErr(err error) error {
	var wrong *vault.WrongPINError
	var locked *vault.LockedError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &wrong):
		return &PINError{Err: ErrWrongPIN, Remaining: wrong.Remaining, RetryAt: wrong.RetryAt}
	case errors.As(err, &locked):
		return &PINError{Err: ErrLocked, Remaining: -1, RetryAt: locked.Until}
	case errors.Is(err, vault.ErrWiped):
		return ErrWiped
	case errors.Is(err, vault.ErrNoVault):
		return ErrNoVault
	case errors.Is(err, vault.ErrExists):
		return ErrExists
	case errors.Is(err, vault.ErrBusy):
		return ErrInUse
	case errors.Is(err, vault.ErrClosed):
		return ErrNotOpen
	case errors.Is(err, vault.ErrNewerVersion):
		return fmt.Errorf("%w: %v", ErrVaultTooNew, err)
	case errors.Is(err, vault.ErrCorrupt):
		detail := strings.TrimPrefix(err.Error(), vault.ErrCorrupt.Error()+": ")
		return fmt.Errorf("%w (tampered with or truncated): %s", ErrCorrupt, detail)
	}
	return fmt.Errorf("client: %w", err) // the vault's errors say "vault:" already
}

// relayErr maps the transport's and the relay's errors to this package's.
func relayErr(err error) error {
	var we *wire.Error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, relay.ErrConfig):
		return fmt.Errorf("%w: %v", ErrBadConfig, err)
	case errors.Is(err, relay.ErrUntrusted):
		return fmt.Errorf("%w: %v", ErrUntrusted, err)
	case errors.Is(err, relay.ErrUnreachable), errors.Is(err, relay.ErrClosed):
		return fmt.Errorf("%w: %v", ErrUnreachable, err)
	case errors.As(err, &we):
		return codeErr(we)
	}
	return fmt.Errorf("client: relay: %w", err)
}

// codeErr maps a relay error code to a sentinel where callers branch.
func codeErr(we *wire.Error) error {
	var s error
	switch we.Code {
	case wire.CodeUnauthorized:
		s = ErrRevoked
	case wire.CodeRateLimited:
		s = ErrRateLimited
	case wire.CodeUnknownUser:
		s = ErrUnknownUser
	case wire.CodeUserExists:
		s = ErrUserExists
	case wire.CodeTokenInvalid, wire.CodeTokenUsed, wire.CodeTokenExpired, wire.CodeTokenRequired:
		s = ErrToken
	case wire.CodeUnavailable, wire.CodeInternal, wire.CodeConnLimit:
		s = ErrUnreachable
	case wire.CodeDisplaced:
		s = ErrDisplaced
	default:
		return &RelayError{Code: we.Code.String(), Detail: we.Detail}
	}
	return fmt.Errorf("%w (%s: %s)", s, we.Code, we.Detail)
}
