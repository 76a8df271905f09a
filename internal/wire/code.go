package wire

import (
	"net/http"
	"strconv"

	"golang.org/x/crypto/cryptobyte"
)

// Code is a stable error code carried by an Error frame (and, as OK or an
// error, by a SubmitResult). The set is closed and append-only: a number,
// once given a meaning, keeps it forever. A peer may receive a number newer
// than its own code knows; it reads as an unknown error (see Known).
//
// Code implements error so that errors.Is(err, CodeRateLimited) matches any
// error wrapping an *Error with that code.
type Code uint16

// The codes. Numbers are part of the protocol; never reorder or reuse them.
const (
	CodeOK                 Code = 0  // success (SubmitResult only; never in an Error frame)
	CodeMalformed          Code = 1  // a frame, header or field does not parse
	CodeUnauthorized       Code = 2  // the proof is missing, forged, replayed, expired or the device revoked
	CodeRateLimited        Code = 3  // too many requests from this client or device; retry later
	CodeTooLarge           Code = 4  // a body, frame or envelope exceeds its limit
	CodeMailboxFull        Code = 5  // the recipient's mailbox is at its cap
	CodeUnknownUser        Code = 6  // no such user
	CodeUnknownDevice      Code = 7  // no such device (or it was revoked)
	CodeUnsupportedVersion Code = 8  // the frame's version byte is not Version
	CodeUserExists         Code = 9  // the user exists with a different identity
	CodeTokenInvalid       Code = 10 // the registration token is forged, malformed or for another user
	CodeTokenUsed          Code = 11 // the registration token was already used
	CodeTokenExpired       Code = 12 // the registration token has expired
	CodeTokenRequired      Code = 13 // this relay registers only with a token
	CodeBadKey             Code = 14 // a public key, signature or certificate fails to parse or verify
	CodeNoPreKeys          Code = 15 // the device has uploaded no prekeys to hand out
	CodeLimit              Code = 16 // a count limit (prekeys, devices) would be exceeded
	CodeForbidden          Code = 17 // authenticated, but not allowed to do this
	CodeNotFound           Code = 18 // no such endpoint
	CodeBadMethod          Code = 19 // the endpoint exists but not with this HTTP method
	CodeUnavailable        Code = 20 // the relay is shutting down or overloaded; retry later
	CodeInternal           Code = 21 // the relay failed; retry later
	// 22-29 belong to other workstreams.
	CodeDisplaced Code = 30 // a newer WebSocket of the same device took this one's place
	CodeConnLimit Code = 31 // the relay holds as many connections as it may; retry later
	// Append new codes here, and their names and statuses to codeInfo.
)

var codeInfo = [...]struct {
	name   string
	status int
}{
	CodeOK:                 {"ok", http.StatusOK},
	CodeMalformed:          {"malformed", http.StatusBadRequest},
	CodeUnauthorized:       {"unauthorized", http.StatusUnauthorized},
	CodeRateLimited:        {"rate-limited", http.StatusTooManyRequests},
	CodeTooLarge:           {"too-large", http.StatusRequestEntityTooLarge},
	CodeMailboxFull:        {"mailbox-full", http.StatusInsufficientStorage},
	CodeUnknownUser:        {"unknown-user", http.StatusNotFound},
	CodeUnknownDevice:      {"unknown-device", http.StatusNotFound},
	CodeUnsupportedVersion: {"unsupported-version", http.StatusBadRequest},
	CodeUserExists:         {"user-exists", http.StatusConflict},
	CodeTokenInvalid:       {"token-invalid", http.StatusForbidden},
	CodeTokenUsed:          {"token-used", http.StatusForbidden},
	CodeTokenExpired:       {"token-expired", http.StatusForbidden},
	CodeTokenRequired:      {"token-required", http.StatusUnauthorized},
	CodeBadKey:             {"bad-key", http.StatusBadRequest},
	CodeNoPreKeys:          {"no-prekeys", http.StatusNotFound},
	CodeLimit:              {"limit", http.StatusConflict},
	CodeForbidden:          {"forbidden", http.StatusForbidden},
	CodeNotFound:           {"not-found", http.StatusNotFound},
	CodeBadMethod:          {"bad-method", http.StatusMethodNotAllowed},
	CodeUnavailable:        {"unavailable", http.StatusServiceUnavailable},
	CodeInternal:           {"internal", http.StatusInternalServerError},
	CodeDisplaced:          {"displaced", http.StatusConflict},
	CodeConnLimit:          {"connection-limit", http.StatusServiceUnavailable},

	CodeQuota:     {"quota", http.StatusInsufficientStorage},
	CodeNoBlob:    {"no-blob", http.StatusNotFound},
	CodeOffset:    {"offset", http.StatusConflict},
	CodeBlobState: {"blob-state", http.StatusConflict},
	CodeChecksum:  {"checksum", http.StatusUnprocessableEntity},
	CodeRange:     {"bad-range", http.StatusRequestedRangeNotSatisfiable},

	CodeUnlockLocked:  {"unlock-locked", http.StatusGone},
	CodeUnlockUnknown: {"unlock-unknown", http.StatusNotFound},
	CodeUnlockStale:   {"unlock-stale", http.StatusConflict},

	CodePushDisabled: {"push-disabled", http.StatusNotImplemented},
	CodeNoPolicy:     {"no-policy", http.StatusNotFound},
	CodePolicyStale:  {"policy-stale", http.StatusConflict},
}

// Known reports whether c is a code this version of the package defines.
func (c Code) Known() bool { return int(c) < len(codeInfo) && codeInfo[c].name != "" }

// ErrorCodes returns every error code this version of the package defines
// (every known code but CodeOK), in ascending order.
func ErrorCodes() []Code {
	var cs []Code
	for c := range codeInfo {
		if c := Code(c); c != CodeOK && c.Known() {
			cs = append(cs, c)
		}
	}
	return cs
}

// String returns c's stable name, such as "mailbox-full", or "code-N" for a
// code this package does not know.
func (c Code) String() string {
	if !c.Known() {
		return "code-" + strconv.Itoa(int(c))
	}
	return codeInfo[c].name
}

// Error makes Code an error: "wire: mailbox-full".
func (c Code) Error() string { return "wire: " + c.String() }

// HTTPStatus is the HTTP status a relay answers with for c: 500 for a code
// this package does not know.
func (c Code) HTTPStatus() int {
	if !c.Known() {
		return http.StatusInternalServerError
	}
	return codeInfo[c].status
}

// MaxDetail is the longest Error detail in bytes.
const MaxDetail = 255

// Error is an error that crossed (or will cross) the wire. It is also the
// frame TypeError:
//
//	u16 code (nonzero) | u8-prefixed detail (printable ASCII)
//
// Detail is a short fixed text for humans; programs branch on Code.
type Error struct {
	Code   Code
	Detail string
}

// Errorf returns an *Error with code c and a detail (use constant texts:
// details are sent to peers and must carry no secrets).
func Errorf(c Code, detail string) *Error { return &Error{Code: c, Detail: detail} }

// Error formats e as "wire: code: detail".
func (e *Error) Error() string {
	if e.Detail == "" {
		return e.Code.Error()
	}
	return e.Code.Error() + ": " + e.Detail
}

// Unwrap returns e.Code, so errors.Is(err, CodeX) works.
func (e *Error) Unwrap() error { return e.Code }

// Type returns TypeError.
func (*Error) Type() Type { return TypeError }

func (e *Error) appendBody(b *cryptobyte.Builder) {
	b.AddUint16(uint16(e.Code))
	addString8(b, e.Detail)
}

func (e *Error) parseBody(s *cryptobyte.String) error {
	var code uint16
	var detail cryptobyte.String
	if !s.ReadUint16(&code) || code == uint16(CodeOK) {
		return malformed("error: code")
	}
	if !s.ReadUint8LengthPrefixed(&detail) || !printable(detail) {
		return malformed("error: detail")
	}
	e.Code, e.Detail = Code(code), string(detail)
	return nil
}

// printable reports whether b is printable ASCII, so that a detail cannot
// carry terminal escapes to a user's screen.
func printable(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

func malformed(detail string) *Error { return Errorf(CodeMalformed, detail) }
