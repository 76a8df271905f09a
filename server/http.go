package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"

	"parley.dev/internal/addr"
	"parley.dev/internal/keys"
	"parley.dev/internal/store"
	"parley.dev/internal/wire"
)

// The relay's endpoints. docs/protocol.md describes each.
const (
	pathChallenge = "/v1/challenge"
	pathRegister  = "/v1/register"
	pathPreKeys   = "/v1/prekeys"
	pathWS        = "/v1/ws"
	pathHealth    = "/healthz"
)

// Headers on every response. The API serves binary frames and one line of
// text to programs, never a page: nothing may be sniffed into something
// else, cached, framed, sent on as a referrer or allowed to load or run
// anything. HSTS is two years, without includeSubDomains (the relay's
// domain may host others).
var securityHeaders = [...][2]string{
	{"X-Content-Type-Options", "nosniff"},
	{"Cache-Control", "no-store"},
	{"Referrer-Policy", "no-referrer"},
	{"Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"},
}

const hsts = "max-age=63072000"

// setHeaders sets the security headers, and HSTS when the response goes
// over TLS.
func setHeaders(h http.Header, tls bool) {
	for _, kv := range securityHeaders {
		h.Set(kv[0], kv[1])
	}
	if tls {
		h.Set("Strict-Transport-Security", hsts)
	}
}

// Request body limits.
const (
	maxRegisterBody = 16 << 10
	// maxPreKeyBody fits a PreKeyUpload of the largest allowed keys.
	maxPreKeyBody = (2*wire.MaxPreKeysPerUpload+2)*(4+2+wire.MaxKey+2+wire.MaxSignature) + 16
)

// routes is the public listener's API. /metrics is not among them: it is
// served only where the operator mounts MetricsHandler.
func (r *relay) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+pathHealth, r.handleHealth)
	mux.Handle("GET "+pathReady, r.ready)
	mux.HandleFunc("POST "+pathChallenge, r.handleChallenge)
	mux.HandleFunc("POST "+pathRegister, r.handleRegister)
	mux.Handle("GET /v1/users/{user}/devices", r.authed(r.handleDevices, 0))
	mux.Handle("POST /v1/devices", r.authed(r.handleDeviceLists, maxDeviceListsBody))
	mux.Handle("DELETE /v1/users/{user}/devices/{device}", r.authed(r.handleRevoke, 0))
	mux.Handle("DELETE /v1/users/{user}", r.authed(r.handleDeleteAccount, 0))
	mux.Handle("POST /v1/users/{user}/devices/{device}/bundle", r.authed(r.handleBundle, 0))
	mux.Handle("PUT "+pathPreKeys, r.authed(r.handleUploadPreKeys, maxPreKeyBody))
	mux.Handle("GET "+pathPreKeys, r.authed(r.handlePreKeyStatus, 0))
	mux.HandleFunc("GET "+pathWS, r.handleWebSocket)
	r.blobRoutes(mux)
	r.unlockRoutes(mux)
	r.pushRoutes(mux)
	mux.HandleFunc("GET "+wire.PathPolicy, r.handlePolicy)
	return r.frameErrors(mux)
}

// frameErrors sets the security headers and HSTS on every response, sets
// the request's RemoteAddr to the client's (see clientAddr) and answers
// unknown paths and methods with Error frames instead of the mux's plain
// text.
func (r *relay) frameErrors(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		setHeaders(w.Header(), true)
		req.RemoteAddr = r.clientAddr(req)
		h, pattern := mux.Handler(req)
		if pattern != "" {
			mux.ServeHTTP(w, req) // sets the path values
			return
		}
		rec := &statusRecorder{header: make(http.Header)}
		h.ServeHTTP(rec, req)
		if rec.status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", rec.header.Get("Allow"))
			r.writeError(w, wire.Errorf(wire.CodeBadMethod, req.Method+" not allowed here"))
			return
		}
		r.writeError(w, wire.Errorf(wire.CodeNotFound, "no such endpoint"))
	})
}

// statusRecorder captures the status and headers the mux's fallback
// handlers would write.
type statusRecorder struct {
	header http.Header
	status int
}

func (s *statusRecorder) Header() http.Header         { return s.header }
func (s *statusRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (s *statusRecorder) WriteHeader(code int)        { s.status = code }

func (r *relay) handleHealth(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "ok\n")
}

// writeFrame answers 200 with one frame.
func (r *relay) writeFrame(w http.ResponseWriter, f wire.Frame) {
	b, err := wire.Marshal(f)
	if err != nil {
		r.log.Error("marshal response", "type", f.Type().String(), "err", err)
		r.writeError(w, wire.Errorf(wire.CodeInternal, "response"))
		return
	}
	w.Header().Set("Content-Type", wire.ContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Write(b)
}

// writeError answers with e's HTTP status and e as an Error frame.
func (r *relay) writeError(w http.ResponseWriter, e *wire.Error) {
	r.metrics.reject(e.Code)
	b, err := wire.Marshal(e)
	if err != nil { // a detail that is not printable ASCII: a bug
		b, _ = wire.Marshal(wire.Errorf(e.Code, ""))
	}
	if e.Code == wire.CodeUnauthorized {
		w.Header().Set("WWW-Authenticate", wire.AuthScheme)
	}
	w.Header().Set("Content-Type", wire.ContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(e.Code.HTTPStatus())
	w.Write(b)
}

// internal logs err (which carries no secrets: store and wire errors name
// operations and addresses) and returns the error the client sees.
func (r *relay) internal(op string, err error) *wire.Error {
	if errors.Is(err, context.Canceled) || errors.Is(err, store.ErrClosed) {
		return wire.Errorf(wire.CodeUnavailable, "relay shutting down")
	}
	r.log.Error(op, "err", err)
	return wire.Errorf(wire.CodeInternal, op)
}

// readBody reads a request body of at most max bytes (none when max is 0).
func readBody(w http.ResponseWriter, req *http.Request, max int64) ([]byte, *wire.Error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, req.Body, max))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, wire.Errorf(wire.CodeTooLarge, "body exceeds "+strconv.FormatInt(max, 10)+" bytes")
	case err != nil:
		return nil, wire.Errorf(wire.CodeMalformed, "body unreadable")
	}
	return b, nil
}

// authedHandler serves a request made by the authenticated device dev.
type authedHandler func(w http.ResponseWriter, req *http.Request, dev store.Device, body []byte)

// authed wraps h with device authentication: the request's proof must
// name a valid, unused challenge (consumed here, whatever follows), a
// current device, and carry that device's signature over the request;
// the device must be within its rate.
func (r *relay) authed(h authedHandler, maxBody int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		p, werr := r.proofOf(req)
		if werr != nil {
			r.writeError(w, werr)
			return
		}
		body, werr := readBody(w, req, maxBody)
		if werr != nil {
			r.writeError(w, werr)
			return
		}
		dev, werr := r.verifyDevice(req.Context(), req, p, body)
		if werr == nil {
			werr = r.allowDevice(dev.Address)
		}
		if werr != nil {
			r.writeError(w, werr)
			return
		}
		h(w, req, dev, body)
	})
}

// Unauthorized details. They say what to fix without saying which check
// of a forged proof failed first.
var (
	errNoProof       = wire.Errorf(wire.CodeUnauthorized, "missing proof")
	errBadProof      = wire.Errorf(wire.CodeUnauthorized, "malformed proof")
	errBadChallenge  = wire.Errorf(wire.CodeUnauthorized, "unknown, used or expired challenge")
	errBadDevice     = wire.Errorf(wire.CodeUnauthorized, "proof does not verify for a current device")
	errRateChallenge = wire.Errorf(wire.CodeRateLimited, "too many challenges from this network")
	errRateDevice    = wire.Errorf(wire.CodeRateLimited, "too many requests from this device")
	// errSuspended answers a proven device of a suspended account (after
	// the proof, so it tells only the device's holder).
	errSuspended = wire.Errorf(wire.CodeForbidden, "account suspended by the operator")
)

// allowDevice takes one authenticated request from a's allowance. Call
// it only once a's proof has verified.
func (r *relay) allowDevice(a addr.Address) *wire.Error {
	if !r.deviceL.allow(a.String()) {
		return errRateDevice
	}
	return nil
}

// allowRequest takes one request over a WebSocket from a's allowance of
// them (Server.RequestRate).
func (r *relay) allowRequest(a addr.Address) *wire.Error {
	if !r.requestL.allow(a.String()) {
		return errRateDevice
	}
	return nil
}

// proofOf reads req's proof and consumes its challenge (on first
// presentation, whatever the outcome of the request).
func (r *relay) proofOf(req *http.Request) (*wire.Proof, *wire.Error) {
	text := req.Header.Get("Authorization")
	var p *wire.Proof
	var err error
	switch {
	case text != "":
		p, err = wire.ParseAuthorization(text)
	case req.URL.Path == pathWS && req.URL.Query().Has(wire.AuthQuery):
		p, err = wire.ParseProofText(req.URL.Query().Get(wire.AuthQuery))
	default:
		return nil, errNoProof
	}
	if err != nil {
		return nil, errBadProof
	}
	if werr := r.consume(req.Context(), p.Challenge); werr != nil {
		return nil, werr
	}
	return p, nil
}

// verifyDevice checks that p is a current device's signature over req.
func (r *relay) verifyDevice(ctx context.Context, req *http.Request, p *wire.Proof, body []byte) (store.Device, *wire.Error) {
	if p.Address.Device == 0 {
		return store.Device{}, errBadDevice
	}
	dev, err := r.store.Device(ctx, p.Address)
	if errors.Is(err, store.ErrNotFound) {
		return store.Device{}, errBadDevice
	}
	if err != nil {
		return store.Device{}, r.internal("device lookup", err)
	}
	key, err := keys.ParseDevicePublic(dev.Key)
	if err != nil {
		return store.Device{}, r.internal("stored device key", err)
	}
	if !verifyProof(key, p, req, body) {
		return store.Device{}, errBadDevice
	}
	if dev.Suspended {
		return store.Device{}, errSuspended
	}
	return dev, nil
}

func verifyProof(key keys.DevicePublic, p *wire.Proof, req *http.Request, body []byte) bool {
	msg, err := wire.ProofMessage(p.Challenge, p.Address, req.Method, req.URL.Path, body)
	return err == nil && key.Verify(msg, p.Signature[:])
}

func (r *relay) handleChallenge(w http.ResponseWriter, req *http.Request) {
	if !r.challengeL.allow(clientKey(req.RemoteAddr)) {
		r.writeError(w, errRateChallenge)
		return
	}
	r.metrics.challenges.Add(1)
	r.writeFrame(w, &wire.Challenge{Nonce: r.challenges.issue(), TTL: uint32(r.challenges.ttl.Seconds())})
}

// pathAddress reads the {user} and {device} path segments.
func pathAddress(req *http.Request) (addr.Address, *wire.Error) {
	u, err := addr.ParseUserID(req.PathValue("user"))
	if err != nil {
		return addr.Address{}, wire.Errorf(wire.CodeMalformed, "bad user ID in path")
	}
	d, err := strconv.ParseUint(req.PathValue("device"), 10, 32)
	if err != nil || d == 0 {
		return addr.Address{}, wire.Errorf(wire.CodeMalformed, "bad device number in path")
	}
	return addr.Address{User: u, Device: addr.DeviceID(d)}, nil
}
