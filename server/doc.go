// Package server is the Parley relay, embeddable in any Go program; the
// parleyd command is a thin wrapper around it.
//
// The relay moves opaque ciphertext between devices, like a DERP server:
// it stores accounts (a user ID and a public identity), devices (a public
// authentication key and the identity's certificate for it), public
// prekeys, and per-device mailboxes of end-to-end encrypted envelopes with
// their routing and expiry. It holds no key that could read a message and
// does not contain the code that could.
//
// # Running one
//
//	tlsConf, err := server.DevTLS(dir) // or your certificates, or autocert
//	...
//	s := &server.Server{DataDir: dir, TLSConfig: tlsConf}
//	go s.ListenAndServe("127.0.0.1:8443")
//	...
//	s.Shutdown(ctx)
//
// Every other field has a default; see Server. The relay speaks TLS 1.3
// only, without session tickets, sets HSTS and other security headers
// on every response and has no plaintext listener. For
// development DevTLS creates a local CA in the data directory; clients
// trust its certificate (DevCAFile). The servertest package starts a
// complete relay on a loopback port for tests.
//
// # API
//
// Every request and response body, and every WebSocket message, is a
// binary frame of parley.dev/internal/wire; errors are wire.Error frames
// with stable codes. docs/protocol.md lists the endpoints:
//
//	POST   /v1/challenge                          a fresh single-use challenge
//	POST   /v1/register                           register a device (proof by the new key)
//	GET    /v1/users/{user}/devices               a user's identity and devices
//	DELETE /v1/users/{user}/devices/{device}      revoke a device of one's own user
//	PUT    /v1/prekeys                            upload one's own prekeys
//	GET    /v1/prekeys                            how many one-time prekeys are left
//	POST   /v1/users/{user}/devices/{device}/bundle  take a prekey bundle
//	GET    /v1/ws                                 the device's WebSocket: submit, deliver, ack
//	GET    /healthz                               liveness
//
// Metrics (Prometheus text) are not on this listener: mount
// Server.MetricsHandler on a private one.
//
// # Authentication
//
// A device signs each request with its device key: it fetches a challenge,
// then sends "Authorization: Parley <proof>" where the proof holds its
// address, the challenge and an Ed25519 signature over the challenge, the
// address, the method, the path and the body's hash (wire.ProofMessage).
// The relay consumes the challenge on first sight, whatever the outcome, so
// a captured request cannot be replayed; it stores no password and no
// bearer secret. Challenges are stateless (an expiry and a MAC under a key
// kept in the store); only used ones are recorded, in the store, so
// several relays on one PostgreSQL database accept each other's
// challenges and each proof once. Authenticated requests are limited per
// device, challenges per client network; behind a load balancer, set
// TrustedProxies (and ProxyProtocol) so that the client's address is
// known. A connected device sends the same authenticated requests over
// its WebSocket (wire.Request), where the connection's authentication
// stands in for a challenge. Registration is proved by the new device's key, and in
// RegisterToken mode also needs a token from the host app's backend (see
// NewRegistrationToken).
//
// # Delivery
//
// Envelopes are submitted over the WebSocket and acknowledged only once
// durable; concurrent submissions are group-committed. Resubmitting a
// message ID is harmless. A connected device receives its backlog, then a
// Synced frame, then live envelopes, with at most Window unacknowledged at
// a time; its Ack deletes them and is confirmed by an AckResult. A quiet
// Ack (the Welcome says they are taken) is not answered: a connection's
// frames are handled in order, so a later Ack's AckResult confirms it.
// Envelopes not delivered within MailboxTTL expire and their sender
// receives a notice listing the expired message IDs.
//
// # Connections
//
// An idle WebSocket costs no goroutine (on Linux, readiness comes from
// epoll) and about 10 kB of memory. A device has at most MaxDeviceConns
// connections (a newer one displaces the oldest), the relay at most
// MaxConns.
package server
