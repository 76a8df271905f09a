package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"path"
	"slices"
	"strconv"
	"time"

	"parley.dev/internal/audit"
	"parley.dev/internal/store"
	"parley.dev/internal/wire"
)

// maxAdminBody bounds an admin request's body.
const maxAdminBody = 64 << 10

// AdminHandler serves the admin console's API (docs/operations.md,
// "Admin console"): JSON over HTTP for `parleyd admin`. Serve it only on
// a private listener (parleyd's --admin-listen: a unix socket, or
// loopback with client certificates), never on the relay's public one,
// which does not route these paths. It starts s if it has not started.
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	for pattern, f := range adminRoutes {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, req *http.Request) {
			adm, err := s.Admin()
			var v any
			if err == nil {
				req.Body = http.MaxBytesReader(w, req.Body, maxAdminBody)
				v, err = f(adm, req)
			}
			writeAdmin(w, v, err)
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeAdmin(w, nil, errAdminNotFound)
	})
	// ServeMux answers a path that is not clean ("/a/./b", "//") with a
	// redirect; the console's clients never send one, so it is not found.
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if p := req.URL.Path; p == "" || path.Clean(p) != p {
			writeAdmin(w, nil, errAdminNotFound)
			return
		}
		mux.ServeHTTP(w, req)
	})
}

// AdminRoutes lists the admin API's routes ("METHOD /admin/v1/..."), for
// tests that check where they are served and where not.
func AdminRoutes() []string { return slices.Sorted(maps.Keys(adminRoutes)) }

type adminFunc func(*Admin, *http.Request) (any, error)

var adminRoutes = map[string]adminFunc{
	"GET /admin/v1/users":                                 adminUsers,
	"GET /admin/v1/users/{user}/devices":                  adminDevices,
	"POST /admin/v1/users/{user}/devices/{device}/revoke": adminRevoke,
	"POST /admin/v1/users/{user}/suspend": func(a *Admin, r *http.Request) (any, error) {
		return ok(a.Suspend(r.Context(), r.PathValue("user")))
	},
	"POST /admin/v1/users/{user}/resume": func(a *Admin, r *http.Request) (any, error) {
		return ok(a.Resume(r.Context(), r.PathValue("user")))
	},
	"DELETE /admin/v1/users/{user}": func(a *Admin, r *http.Request) (any, error) {
		return ok(a.DeleteUser(r.Context(), r.PathValue("user")))
	},
	"POST /admin/v1/tokens": adminTokenMinted,
	"POST /admin/v1/policy": adminPolicy,
	"GET /admin/v1/audit":   adminAudit,
	"GET /admin/v1/audit/verify": func(a *Admin, r *http.Request) (any, error) {
		n, err := a.VerifyAudit(r.Context())
		return map[string]any{"entries": n, "intact": err == nil}, err
	},
}

var errAdminNotFound = errors.New("no such admin route")

// AdminUser is a user in the admin API's JSON.
type AdminUser struct {
	User      string    `json:"user"`
	Created   time.Time `json:"created"`
	Suspended bool      `json:"suspended"`
	Devices   int       `json:"devices"`
}

// AdminDevice is a device in the admin API's JSON.
type AdminDevice struct {
	Device   uint32    `json:"device"`
	Created  time.Time `json:"created"`
	LastSeen time.Time `json:"last_seen,omitzero"`
	Queued   int       `json:"queued"`
}

func adminUsers(a *Admin, r *http.Request) (any, error) {
	limit, err := queryInt(r, "limit", store.MaxBatch)
	if err != nil {
		return nil, err
	}
	us, err := a.Users(r.Context(), r.URL.Query().Get("after"), int(min(max(limit, 1), store.MaxBatch)))
	out := []AdminUser{}
	for _, u := range us {
		out = append(out, AdminUser{User: string(u.ID), Created: u.Created, Suspended: u.Suspended, Devices: u.Devices})
	}
	return out, err
}

func adminDevices(a *Admin, r *http.Request) (any, error) {
	ds, err := a.Devices(r.Context(), r.PathValue("user"))
	out := []AdminDevice{}
	for _, d := range ds {
		out = append(out, AdminDevice(d))
	}
	return out, err
}

func adminRevoke(a *Admin, r *http.Request) (any, error) {
	d, err := strconv.ParseUint(r.PathValue("device"), 10, 32)
	if err != nil || d == 0 {
		return nil, adminBadRequest("bad device number %q", r.PathValue("device"))
	}
	return ok(a.RevokeDevice(r.Context(), r.PathValue("user"), uint32(d)))
}

func adminTokenMinted(a *Admin, r *http.Request) (any, error) {
	var body struct {
		User    string    `json:"user"`
		Expires time.Time `json:"expires"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		return nil, adminBadRequest("token record: %v", err)
	}
	if err := a.RecordTokenMint(r.Context(), body.User, body.Expires); err != nil {
		return nil, adminBadRequest("%v", err)
	}
	return map[string]bool{"ok": true}, nil
}

func adminPolicy(a *Admin, r *http.Request) (any, error) {
	doc, err := io.ReadAll(io.LimitReader(r.Body, wire.MaxPolicy+1))
	if err != nil {
		return nil, adminBadRequest("policy: %v", err)
	}
	v, err := a.PublishPolicy(r.Context(), doc)
	if err != nil && !errors.Is(err, ErrPolicyStale) && !errors.Is(err, store.ErrClosed) {
		err = adminBadRequest("%v", err)
	}
	return map[string]uint64{"version": v}, err
}

func adminAudit(a *Admin, r *http.Request) (any, error) {
	after, err := queryInt(r, "after", 0)
	if err != nil {
		return nil, err
	}
	limit, err := queryInt(r, "limit", 100)
	if err != nil {
		return nil, err
	}
	es, err := a.AuditLog(r.Context(), after, int(min(max(limit, 1), store.MaxBatch)))
	if es == nil {
		es = []audit.Entry{}
	}
	return es, err
}

func queryInt(r *http.Request, name string, def int64) (int64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, adminBadRequest("bad %s %q", name, s)
	}
	return n, nil
}

func ok(err error) (any, error) { return map[string]bool{"ok": err == nil}, err }

// adminBadRequestError is a mistake in the request.
type adminBadRequestError struct{ msg string }

func (e adminBadRequestError) Error() string { return e.msg }

func adminBadRequest(format string, args ...any) error {
	return adminBadRequestError{fmt.Sprintf(format, args...)}
}

// writeAdmin writes v as JSON, or err as {"error": ...} with its status.
func writeAdmin(w http.ResponseWriter, v any, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	status := http.StatusOK
	if err != nil {
		status, v = adminStatus(err), map[string]string{"error": err.Error()}
	}
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func adminStatus(err error) int {
	var bad adminBadRequestError
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &bad), errors.Is(err, store.ErrInvalid):
		return http.StatusBadRequest
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrNoSuchUser), errors.Is(err, ErrNoSuchDevice), errors.Is(err, errAdminNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrPolicyStale), errors.Is(err, audit.ErrBroken):
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}
