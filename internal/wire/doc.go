// Package wire defines every frame the Parley relay and its clients
// exchange: HTTP request and response bodies, the Authorization proof,
// registration tokens and WebSocket messages. It holds encodings only, no
// relay or client logic, so that both sides share one definition.
//
// # Frames
//
// Every frame is
//
//	u8 version (= Version) | u8 type (a Type) | body
//
// with the body's fields encoded by golang.org/x/crypto/cryptobyte: all
// integers big-endian, "u8/u16/u24-prefixed" meaning a length of that width
// followed by that many bytes. Each type's body layout is documented beside
// its Type constant and in docs/protocol.md. Encodings are canonical: a
// parser accepts exactly the bytes Append produces for some value, and
// refuses trailing bytes, unknown flags and out-of-range lengths. One
// WebSocket binary message carries one frame; an HTTP body is one frame
// (or empty where the endpoint takes no input).
//
// Use [Marshal] or [Append] to encode any [Frame], [Parse] to decode a frame
// of unknown type and [ParseAs] to decode one of a known type. Byte slices
// in a parsed frame alias the input.
//
// # Errors
//
// Errors that cross the wire are an [Error] frame holding a [Code]: a
// closed, append-only enum of stable numbers, each with a stable name and an
// HTTP status. Parse errors are *Error values too (CodeMalformed,
// CodeTooLarge or CodeUnsupportedVersion), so a server can send back exactly
// what went wrong. errors.Is(err, CodeMailboxFull) works on any error that
// wraps an *Error.
//
// All types are plain values, safe for concurrent use once built; their
// zero values are not valid frames unless a type's doc says so.
package wire
