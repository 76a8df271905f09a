package server

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"parley.dev/internal/addr"
	"parley.dev/internal/blob"
	"parley.dev/internal/wire"
)

// Upload capabilities. Creating a blob costs one challenge-signed request;
// the relay answers with a capability (blob ID, uploading device, expiry,
// MACed with capMAC) and a capability key, HMAC(reqKey, capability), sent
// once in the TLS-protected response body. Each later upload request
// carries the capability and HMAC(capability key, method, path, offset,
// SHA-256 of the body): the relay recomputes both keys from its secret,
// so it keeps no per-upload state, every node sharing the blob store
// shares the secret, and a request seen in a log (headers and body) is
// neither reusable at another offset nor a key to anything.
const (
	labelCapabilityMAC = "parley.dev/relay/v1 blob capability"
	labelCapabilityKey = "parley.dev/relay/v1 blob request key"
)

// Blob defaults; see the Server fields.
const (
	DefaultMaxBlobSize   = 100 << 20
	DefaultBlobTTL       = 720 * time.Hour
	DefaultBlobUploadTTL = 24 * time.Hour
	DefaultBlobQuota     = 1 << 30
	DefaultMaxBlobs      = 1000
	// DefaultCapabilityTTL is how long an upload capability works; the
	// device renews it with one signed request.
	DefaultCapabilityTTL = time.Hour
	// MaxBlobPart is the largest body of one upload request.
	MaxBlobPart = 16 << 20
	// BlobsDir is the blob store's directory in DataDir.
	BlobsDir = "blobs"
)

// Default blob rates.
var (
	DefaultBlobUploadRate   = Rate{Burst: 600, Per: time.Minute}
	DefaultBlobDownloadRate = Rate{Burst: 600, Per: time.Minute}
)

// blobRelay is the relay's attachment service.
type blobRelay struct {
	store                 blob.Store
	capMAC, capKey        []byte
	maxSize, quota        int64
	maxBlobs              int
	ttl, uploadTTL, capTT time.Duration
	uploadL, downloadL    *limiter
}

// blobLocation says where s keeps blobs: in the PostgreSQL database of
// its store (a URL), or on disk (a directory: DataDir's, or beside a
// SQLite store named without DataDir).
func (s *Server) blobLocation() (postgres bool, where string) {
	switch dsn := s.StoreDSN; {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return true, dsn
	case dsn != "" && s.DataDir == "":
		return false, filepath.Join(filepath.Dir(strings.TrimPrefix(dsn, "sqlite:")), BlobsDir)
	}
	return false, filepath.Join(s.DataDir, BlobsDir)
}

func (r *relay) openBlobs(ctx context.Context, s *Server) error {
	opt := blob.Options{Now: r.now, Logger: r.log, NoMigrate: s.NoMigrate, CheckpointInterval: s.CheckpointInterval}
	var st blob.Store
	var err error
	if pg, where := s.blobLocation(); pg {
		st, err = blob.OpenPostgres(ctx, where, opt)
	} else {
		st, err = blob.OpenDisk(ctx, where, opt)
	}
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	secret, err := st.Secret(ctx)
	if err != nil {
		st.Close()
		return fmt.Errorf("server: %w", err)
	}
	b := &blobRelay{
		store:     st,
		capMAC:    deriveKey(secret[:], labelCapabilityMAC),
		capKey:    deriveKey(secret[:], labelCapabilityKey),
		maxSize:   orInt64(s.MaxBlobSize, DefaultMaxBlobSize),
		quota:     orInt64(s.BlobQuota, DefaultBlobQuota),
		maxBlobs:  DefaultMaxBlobs,
		ttl:       orDuration(s.BlobTTL, DefaultBlobTTL),
		uploadTTL: DefaultBlobUploadTTL,
		capTT:     DefaultCapabilityTTL,
		uploadL:   newLimiter(s.BlobUploadRate.orDefault(DefaultBlobUploadRate), r.now),
		downloadL: newLimiter(s.BlobDownloadRate.orDefault(DefaultBlobDownloadRate), r.now),
	}
	clear(secret[:])
	r.blobs = b
	return nil
}

func deriveKey(secret []byte, label string) []byte {
	k, err := hkdf.Key(sha256.New, secret, nil, label, 32)
	if err != nil {
		panic("server: HKDF length")
	}
	return k
}

func orInt64(v, def int64) int64 {
	if v <= 0 {
		return def
	}
	return v
}

func hmacSum(key []byte, parts ...[]byte) [32]byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	return [32]byte(m.Sum(nil))
}

// capability mints a capability for dev to upload to id, and its key.
func (b *blobRelay) capability(id blob.ID, dev addr.Address, now time.Time) ([]byte, [32]byte, error) {
	c := &wire.BlobCapability{ID: id, Address: dev, Expires: now.Add(b.capTT).Truncate(time.Millisecond)}
	msg, err := c.MACMessage()
	if err != nil {
		return nil, [32]byte{}, err
	}
	c.MAC = hmacSum(b.capMAC, msg)
	cb, err := wire.Marshal(c)
	if err != nil {
		return nil, [32]byte{}, err
	}
	return cb, hmacSum(b.capKey, cb), nil
}

var (
	errBadCapability = wire.Errorf(wire.CodeUnauthorized, "unknown, expired or revoked upload capability")
	errBadRequestMAC = wire.Errorf(wire.CodeUnauthorized, "upload request MAC does not verify")
)

// uploadAuth is a verified capability of one upload request.
type uploadAuth struct {
	cap *wire.BlobCapability
	key [32]byte // the capability key
	mac [32]byte // the request's MAC, checked by check
}

// authorizeUpload checks an upload request's capability: relay-MACed, for
// the blob in the path, unexpired, from a current device within its rate.
func (r *relay) authorizeUpload(req *http.Request, id blob.ID) (*uploadAuth, *wire.Error) {
	h := req.Header.Get("Authorization")
	if h == "" {
		return nil, errNoProof
	}
	c, mac, err := wire.ParseUploadAuthorization(h)
	if err != nil {
		return nil, errBadProof
	}
	msg, err := c.MACMessage()
	want := hmacSum(r.blobs.capMAC, msg)
	if err != nil || !hmac.Equal(want[:], c.MAC[:]) || c.ID != id || !r.now().Before(c.Expires) {
		return nil, errBadCapability
	}
	if _, err := r.store.Device(req.Context(), c.Address); err != nil {
		return nil, errBadCapability // revoked devices stop at once
	}
	if !r.blobs.uploadL.allow(c.Address.String()) {
		return nil, errRateBlob
	}
	cb, _ := wire.Marshal(c)
	return &uploadAuth{cap: c, key: hmacSum(r.blobs.capKey, cb), mac: mac}, nil
}

// check verifies the request MAC over req with offset and the body's hash.
func (a *uploadAuth) check(req *http.Request, offset uint64, body [32]byte) error {
	msg, err := wire.BlobRequestMessage(req.Method, req.URL.Path, offset, body)
	want := hmacSum(a.key[:], msg)
	if err != nil || !hmac.Equal(want[:], a.mac[:]) {
		return errBadRequestMAC
	}
	return nil
}

var errRateBlob = wire.Errorf(wire.CodeRateLimited, "too many blob requests from this device")

// blobError maps a blob store error to the wire.
func (r *relay) blobError(w http.ResponseWriter, op string, err error) *wire.Error {
	var oe *blob.OffsetError
	var we *wire.Error
	switch {
	case errors.As(err, &we):
		return we
	case errors.As(err, &oe):
		w.Header().Set(wire.OffsetHeader, fmt.Sprint(oe.Stored))
		return wire.Errorf(wire.CodeOffset, fmt.Sprintf("%d bytes stored", oe.Stored))
	case errors.Is(err, blob.ErrNotFound):
		return wire.Errorf(wire.CodeNoBlob, "no such blob")
	case errors.Is(err, blob.ErrQuota):
		return wire.Errorf(wire.CodeQuota, "blob quota of this user exceeded")
	case errors.Is(err, blob.ErrTooLarge):
		return wire.Errorf(wire.CodeTooLarge, "part beyond the blob's size")
	case errors.Is(err, blob.ErrShort):
		return wire.Errorf(wire.CodeMalformed, "body shorter than its Content-Length")
	case errors.Is(err, blob.ErrMismatch):
		return wire.Errorf(wire.CodeChecksum, "SHA-256 of the blob differs")
	case errors.Is(err, blob.ErrFinished):
		return wire.Errorf(wire.CodeBlobState, "blob already finished")
	case errors.Is(err, blob.ErrIncomplete):
		return wire.Errorf(wire.CodeBlobState, "blob not completely uploaded")
	case errors.Is(err, blob.ErrBusy):
		return wire.Errorf(wire.CodeBlobState, "another upload to this blob is running")
	case errors.Is(err, blob.ErrClosed):
		return wire.Errorf(wire.CodeUnavailable, "relay shutting down")
	}
	return r.internal(op, err)
}
