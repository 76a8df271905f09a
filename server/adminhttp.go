package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"parley.dev/internal/addr"
	"parley.dev/internal/policy"
	"parley.dev/internal/store"
	"parley.dev/internal/wire"
)

// The admin console over HTTP: a JSON API for `parleyd admin`. It is
// served only where the operator mounts AdminHandler (parleyd: a unix
// socket under the data directory, or loopback with mutual TLS), never on
// the relay's public listener, and it authenticates no one itself: whoever
// reaches it is the administrator (docs/threat-model.md, "Admin console").

// AdminPrefix starts every admin console path.
const AdminPrefix = "/admin/v1/"

// Admin console paths, after AdminPrefix.
const (
	AdminPathUsers       = AdminPrefix + "users"
	AdminPathRevoke      = AdminPrefix + "revoke"
	AdminPathSuspend     = AdminPrefix + "suspend"
	AdminPathResume      = AdminPrefix + "resume"
	AdminPathDelete      = AdminPrefix + "delete"
	AdminPathToken       = AdminPrefix + "token"
	AdminPathPolicy      = AdminPrefix + "policy"
	AdminPathAudit       = AdminPrefix + "audit"
	AdminPathAuditVerify = AdminPrefix + "audit/verify"
)

// maxAdminBody bounds an admin request's JSON body (a policy document is
// bounded by wire.MaxPolicy on its own).
const maxAdminBody = 4 << 10

// defaultAdminLimit is how many users or audit entries a listing returns
// without a limit.
const defaultAdminLimit = 100

// AdminRequest is the body of the admin console's POST requests: User for
// all, Device for revoke, TTL (a Go duration) for token.
type AdminRequest struct {
	User   string `json:"user"`
	Device uint32 `json:"device,omitempty"`
	TTL    string `json:"ttl,omitempty"`
}

// AdminError is the body of every admin console error.
type AdminError struct {
	Error string `json:"error"`
}

// AdminHandler returns the admin console's HTTP handler. Mount it only on
// a listener that only administrators reach.
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	h := func(pattern string, f func(*Admin, http.ResponseWriter, *http.Request)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, req *http.Request) {
			a, err := s.Admin()
			if err != nil {
				adminError(w, http.StatusServiceUnavailable, err)
				return
			}
			f(a, w, req)
		})
	}
	h("GET "+AdminPathUsers, adminUsers)
	h("GET "+AdminPathUsers+"/{user}/devices", adminDevices)
	h("POST "+AdminPathRevoke, adminRevoke)
	h("POST "+AdminPathSuspend, adminUserAction((*Admin).Suspend))
	h("POST "+AdminPathResume, adminUserAction((*Admin).Resume))
	h("POST "+AdminPathDelete, adminUserAction((*Admin).DeleteUser))
	h("POST "+AdminPathToken, adminToken)
	h("POST "+AdminPathPolicy, adminPolicy)
	h("GET "+AdminPathAudit, adminAudit)
	h("GET "+AdminPathAuditVerify, adminVerify)
	mux.HandleFunc("/", func(w http.ResponseWriter, req *http.Request) {
		adminError(w, http.StatusNotFound, fmt.Errorf("no admin route %s %s", req.Method, req.URL.Path))
	})
	return mux
}

func adminUsers(a *Admin, w http.ResponseWriter, req *http.Request) {
	limit, err := queryInt(req, "limit", defaultAdminLimit)
	if err != nil {
		adminFail(w, err)
		return
	}
	users, err := a.Users(req.Context(), req.URL.Query().Get("after"), int(limit))
	if err != nil {
		adminFail(w, err)
		return
	}
	type user struct {
		ID        string    `json:"id"`
		Created   time.Time `json:"created"`
		Suspended bool      `json:"suspended"`
		Devices   int       `json:"devices"`
	}
	out := make([]user, 0, len(users))
	for _, u := range users {
		out = append(out, user{string(u.ID), u.Created.UTC(), u.Suspended, u.Devices})
	}
	adminJSON(w, out)
}

func adminDevices(a *Admin, w http.ResponseWriter, req *http.Request) {
	devs, err := a.Devices(req.Context(), req.PathValue("user"))
	if err != nil {
		adminFail(w, err)
		return
	}
	adminJSON(w, devs)
}

func adminRevoke(a *Admin, w http.ResponseWriter, req *http.Request) {
	r, ok := adminBody(w, req)
	if !ok {
		return
	}
	if err := a.RevokeDevice(req.Context(), r.User, r.Device); err != nil {
		adminFail(w, err)
		return
	}
	adminJSON(w, map[string]any{"revoked": addr.Address{User: addr.UserID(r.User), Device: addr.DeviceID(r.Device)}.String()})
}

// adminUserAction serves suspend, resume and delete: one user, no result.
func adminUserAction(act func(*Admin, context.Context, string) error) func(*Admin, http.ResponseWriter, *http.Request) {
	return func(a *Admin, w http.ResponseWriter, req *http.Request) {
		r, ok := adminBody(w, req)
		if !ok {
			return
		}
		if err := act(a, req.Context(), r.User); err != nil {
			adminFail(w, err)
			return
		}
		adminJSON(w, map[string]string{"user": r.User})
	}
}

func adminToken(a *Admin, w http.ResponseWriter, req *http.Request) {
	r, ok := adminBody(w, req)
	if !ok {
		return
	}
	ttl, err := time.ParseDuration(r.TTL)
	if err != nil {
		adminError(w, http.StatusBadRequest, fmt.Errorf("ttl: %w", err))
		return
	}
	tok, err := a.MintToken(req.Context(), r.User, ttl)
	if err != nil {
		adminFail(w, err)
		return
	}
	adminJSON(w, map[string]string{"user": r.User, "token": tok})
}

func adminPolicy(a *Admin, w http.ResponseWriter, req *http.Request) {
	doc, err := io.ReadAll(http.MaxBytesReader(w, req.Body, wire.MaxPolicy))
	if err != nil {
		adminError(w, http.StatusRequestEntityTooLarge, fmt.Errorf("policy: %w", err))
		return
	}
	v, err := a.PublishPolicy(req.Context(), doc)
	if err != nil {
		adminFail(w, err)
		return
	}
	adminJSON(w, map[string]uint64{"version": v})
}

func adminAudit(a *Admin, w http.ResponseWriter, req *http.Request) {
	after, err := queryInt(req, "after", 0)
	if err != nil {
		adminFail(w, err)
		return
	}
	limit, err := queryInt(req, "limit", defaultAdminLimit)
	if err != nil {
		adminFail(w, err)
		return
	}
	es, err := a.AuditLog(req.Context(), after, int(limit))
	if err != nil {
		adminFail(w, err)
		return
	}
	adminJSON(w, es)
}

func adminVerify(a *Admin, w http.ResponseWriter, req *http.Request) {
	n, err := a.VerifyAudit(req.Context())
	if err != nil {
		adminError(w, http.StatusConflict, err)
		return
	}
	adminJSON(w, map[string]int64{"verified": n})
}

// adminBody decodes a request's AdminRequest; on failure it has answered.
func adminBody(w http.ResponseWriter, req *http.Request) (AdminRequest, bool) {
	var r AdminRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, req.Body, maxAdminBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		adminError(w, http.StatusBadRequest, fmt.Errorf("request body: %w", err))
		return r, false
	}
	if _, err := addr.ParseUserID(r.User); err != nil {
		adminError(w, http.StatusBadRequest, err)
		return r, false
	}
	return r, true
}

// queryInt reads a non-negative integer query parameter.
func queryInt(req *http.Request, name string, def int64) (int64, error) {
	s := req.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: %s=%q: want a non-negative integer", ErrAdminInput, name, s)
	}
	return n, nil
}

// adminFail answers err with its status: 404 for an unknown user or
// device, 409 for a stale policy or a relay that cannot mint tokens, 400
// for bad input, 500 for anything else.
func adminFail(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrNoSuchUser), errors.Is(err, ErrNoSuchDevice):
		code = http.StatusNotFound
	case errors.Is(err, ErrPolicyStale), errors.Is(err, ErrNoTokenKey):
		code = http.StatusConflict
	case errors.Is(err, ErrAdminInput), errors.Is(err, store.ErrInvalid), errors.Is(err, addr.ErrInvalid),
		errors.Is(err, policy.ErrMalformed):
		code = http.StatusBadRequest
	}
	adminError(w, code, err)
}

func adminError(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(AdminError{Error: err.Error()})
}

func adminJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
