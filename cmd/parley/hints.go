package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"parley.dev/client"
	"parley.dev/internal/vault"
)

// explain turns an error into the line the user reads and the next steps.
// The SDK's sentinels say what went wrong; the hints say what to do.
func explain(err error) (msg string, hints []string) {
	var he *hintError
	if errors.As(err, &he) {
		msg, hints = explain(he.err)
		return msg, append(he.hints, hints...)
	}
	var pe *client.PINError
	if errors.As(err, &pe) {
		return explainPIN(pe)
	}
	for _, h := range errorHints {
		if errors.Is(err, h.err) {
			return cleanMessage(err), h.hints
		}
	}
	var re *client.RelayError
	if errors.As(err, &re) {
		return cleanMessage(err), []string{"the relay refused the request; if it persists, ask its operator"}
	}
	return cleanMessage(err), nil
}

// errorHints are the next steps for each SDK error, first match wins.
var errorHints = []struct {
	err   error
	hints []string
}{
	// The relay factor's errors also match broader ones below (ErrWiped,
	// ErrUnreachable, ErrRevoked), so they come first.
	{client.ErrRelayNeeded, []string{"the relay must be reachable to unlock this vault: check the network and that the relay is running, then try again (nothing was counted)"}},
	{client.ErrRelayLocked, []string{"the relay destroyed this vault's key after too many wrong PINs in a row: its contents are gone for good; remove the directory, then \"parley init\" and \"parley register\" again"}},
	{client.ErrRelayKeyUnknown, []string{"this device was revoked, or the relay lost its data: the vault cannot be opened; start over with a new --home"}},
	{client.ErrWeakPIN, []string{"choose " + client.PINPolicy{}.Describe()}},
	{client.ErrNoVault, []string{"create one with \"parley init\", or pass --home DIR (PARLEY_HOME) to use another"}},
	{client.ErrExists, []string{"use it as it is, or pass --home DIR to create another"}},
	{client.ErrWiped, []string{"its contents are gone for good: remove the directory, then \"parley init\" and \"parley register\" again"}},
	{client.ErrCorrupt, []string{"otherwise move it aside and start over: parley init, then parley register"}},
	{client.ErrVaultTooNew, []string{"a newer parley wrote this vault: run that version (nothing was changed)"}},
	{client.ErrInUse, []string{"another parley (listen or chat?) has this vault open: stop it, or use --home for another device"}},
	{client.ErrNotRegistered, []string{"register this device first: parley register --server URL USER"}},
	{client.ErrRegistered, []string{"this device already has an account; use another --home for another user"}},
	{client.ErrNoServer, []string{"pass --server URL (or PARLEY_SERVER)"}},
	{client.ErrBadConfig, []string{"the relay URL must be https://HOST[:PORT]; --ca must name a PEM certificate file"}},
	{client.ErrUnreachable, []string{"check the relay's URL and that it is running, then try again"}},
	{client.ErrUntrusted, []string{"for a development relay, pass its CA with --ca (parleyd --dev writes ca.pem into its data directory)"}},
	{client.ErrRevoked, []string{"this device was revoked or its user registered again elsewhere: start over with a new --home"}},
	{client.ErrRateLimited, []string{"wait a minute and try again"}},
	{client.ErrDisplaced, []string{"another connection of this device took over (another \"parley listen\"?): stop it, or run this again to take over"}},
	{client.ErrUnknownUser, []string{"check the name: the user must have registered on this relay"}},
	{client.ErrUserExists, []string{"choose another user name (or register with a --token from your app's backend)"}},
	{client.ErrToken, []string{"this relay registers only with a token: get a fresh one from your app's backend and pass --token"}},
	{client.ErrIdentityChanged, []string{"compare safety numbers: parley safety USER", "if they match, accept the new identity: parley accept USER"}},
	{client.ErrUnknownContact, []string{"exchange a message with them first: parley send USER TEXT"}},
	{client.ErrSafetyMismatch, []string{"do NOT trust this conversation yet: someone may be in the middle; compare again, in person or on a call you trust"}},
	{client.ErrListening, []string{"another sync or listen is running in this process"}},
	{client.ErrNotGroupAdmin, []string{"only the group's admins can do that: ask one of them (parley group members GROUP marks them with *)"}},
	{client.ErrNotGroupMember, []string{"you are not a member of this group (any more): ask one of its admins to add you"}},
	{client.ErrUnknownGroup, []string{"this device does not know that group (yet): run \"parley sync\", or check with \"parley group list\""}},
}

// explainPIN says how a wrong PIN or a lockout stands.
func explainPIN(pe *client.PINError) (string, []string) {
	var hints []string
	if !pe.RetryAt.IsZero() {
		wait := time.Until(pe.RetryAt).Round(time.Second)
		hints = append(hints, fmt.Sprintf("too many wrong PINs: the next attempt is allowed at %s (in %v)",
			pe.RetryAt.Local().Format(time.TimeOnly), max(wait, 0)))
	}
	switch {
	case pe.Relay:
		hints = append(hints, fmt.Sprintf("%d more wrong PIN(s) in a row and the relay destroys this vault's key for good", pe.Remaining))
	case pe.Remaining >= 0:
		hints = append(hints, fmt.Sprintf("%d more wrong PIN(s) will wipe the vault", pe.Remaining))
	}
	if errors.Is(pe, client.ErrLocked) {
		return "the vault is locked after too many wrong PINs", hints
	}
	if pe.RetryAt.IsZero() {
		hints = append(hints, fmt.Sprintf("try again; after %d wrong PINs in a row, each attempt waits longer", vault.FreeAttempts))
	}
	return "wrong PIN", hints
}

// cleanMessage drops the SDK's "client: " prefixes: the CLI's own prefix
// says where the message comes from.
func cleanMessage(err error) string {
	return strings.ReplaceAll(err.Error(), "client: ", "")
}
