// Package unlock is the relay-assisted PIN factor: a vault's key depends on
// an oblivious PRF (RFC 9497, mode OPRF, ristretto255-SHA512, from
// github.com/cloudflare/circl/oprf) whose key only the relay holds, and the
// relay counts wrong guesses and destroys that key after too many in a row.
// A copy of the device's files is then useless without the relay, and no
// rollback of those files gives back a single guess: the counter lives on
// the relay. This is the Signal SVR model without an enclave.
//
// The package is pure: it computes and checks, the callers (client and
// server) move the bytes and store the state.
//
// # Client half
//
// The vault hands its factor a 32-byte input derived from Argon2id(PIN)
// (internal/vault, Factor). Blind blinds it under the vault's unlock
// credential; the relay evaluates the blinded element; Attempt.Finish
// unblinds it into the OPRF output and derives the factor secret, which
// enters the vault's key-encryption key, and the verifier, a MAC key. A
// successful unlock proves knowledge of the verifier with Output.Proof, an
// HMAC over the relay's current challenge; that resets the relay's counter.
//
// # Relay half
//
// Key is one vault's OPRF key; Key.Evaluate answers a blinded element. The
// relay keeps, per vault, the key, the verifier, a State (failures in a row
// and two timestamps) and nothing else: no PIN, nothing derived from it that
// lets it test a PIN (that needs the vault's salt, which stays on the
// device). Policy decides every step of the counter: an evaluation is
// counted (and the count committed) before it is answered, a valid proof
// resets it, and the N-th failure in a row destroys the key.
//
// # Authentication without the vault open
//
// The device key is inside the locked vault, so unlock requests are signed
// by a separate Ed25519 Credential kept in a File beside the vault.
// Whoever has the device's files can spend the guesses: that is the
// intended, limited path. Each request is bound to the relay's current
// challenge, a hash of the counter's state, which every counted step
// changes, so a captured request never counts twice and needs no replay
// cache.
//
// docs/protocol.md ("Relay PIN factor") gives every label and encoding;
// docs/threat-model.md what each attacker can do.
package unlock
