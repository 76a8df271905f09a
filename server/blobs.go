package server

import (
	"crypto/sha256"
	"io"
	"net/http"
	"strconv"
	"time"

	"parley.dev/internal/blob"
	"parley.dev/internal/store"
	"parley.dev/internal/stream"
	"parley.dev/internal/wire"
)

// Blob endpoints (docs/protocol.md, "Blobs").
const (
	pathBlobs = "/v1/blobs"
	// idleTransfer is how long an upload body or a download may stall
	// before the relay gives up; a slow but moving transfer goes on.
	idleTransfer = 30 * time.Second
	// maxSmallBody bounds the body of the blob requests that carry a frame.
	maxSmallBody = 1 << 10
)

func (r *relay) blobRoutes(mux *http.ServeMux) {
	mux.Handle("POST "+pathBlobs, r.authed(r.handleBlobCreate, maxSmallBody))
	mux.Handle("GET "+pathBlobs, r.authed(r.handleBlobList, 0))
	mux.Handle("POST "+pathBlobs+"/{id}/capability", r.authed(r.handleBlobRenew, 0))
	mux.Handle("DELETE "+pathBlobs+"/{id}", r.authed(r.handleBlobDelete, 0))
	mux.HandleFunc("PATCH "+pathBlobs+"/{id}", r.handleBlobAppend)
	mux.HandleFunc("GET "+pathBlobs+"/{id}/upload", r.handleBlobStatus)
	mux.HandleFunc("POST "+pathBlobs+"/{id}/finish", r.handleBlobFinish)
	mux.HandleFunc("GET "+pathBlobs+"/{id}", r.handleBlobDownload)
}

func pathBlobID(req *http.Request) (blob.ID, *wire.Error) {
	id, err := blob.ParseID(req.PathValue("id"))
	if err != nil {
		return id, wire.Errorf(wire.CodeMalformed, "bad blob ID in path")
	}
	return id, nil
}

func (r *relay) handleBlobCreate(w http.ResponseWriter, req *http.Request, dev store.Device, body []byte) {
	if !r.blobs.uploadL.allow(dev.Address.String()) {
		r.writeError(w, errRateBlob)
		return
	}
	c, err := wire.ParseAs[*wire.BlobCreate](body)
	if err != nil {
		r.writeError(w, wire.Errorf(wire.CodeMalformed, "want a blob-create frame"))
		return
	}
	// The limit is on files: their encryption adds a header and a tag per
	// 64 KiB chunk (internal/stream), so that a file of exactly the
	// limit goes.
	if c.Size > uint64(stream.CiphertextSize(r.blobs.maxSize)) {
		r.writeError(w, wire.Errorf(wire.CodeTooLarge, "blob exceeds a file of "+strconv.FormatInt(r.blobs.maxSize, 10)+" bytes"))
		return
	}
	now := r.now()
	b := blob.Blob{ID: blob.NewID(), Owner: dev.Address, Size: int64(c.Size), Created: now, Expires: now.Add(r.blobs.uploadTTL)}
	err = r.blobs.store.Create(req.Context(), b, blob.Limits{Quota: r.blobs.quota, MaxBlobs: r.blobs.maxBlobs})
	if err != nil {
		r.writeError(w, r.blobError(w, "blob create", err))
		return
	}
	r.log.Debug("blob created", "device", dev.Address.String(), "size", b.Size)
	r.writeUpload(w, b)
}

// handleBlobRenew gives the uploading device a fresh capability and says
// how much is stored: how a device resumes after a restart.
func (r *relay) handleBlobRenew(w http.ResponseWriter, req *http.Request, dev store.Device, _ []byte) {
	id, werr := pathBlobID(req)
	if werr != nil {
		r.writeError(w, werr)
		return
	}
	b, err := r.blobs.store.Stat(req.Context(), id)
	if err == nil && b.Owner != dev.Address {
		err = blob.ErrNotFound // another device's upload: say nothing about it
	}
	if err != nil {
		r.writeError(w, r.blobError(w, "blob renew", err))
		return
	}
	r.writeUpload(w, b)
}

func (r *relay) writeUpload(w http.ResponseWriter, b blob.Blob) {
	capa, key, err := r.blobs.capability(b.ID, b.Owner, r.now())
	if err != nil {
		r.writeError(w, r.internal("blob capability", err))
		return
	}
	r.writeFrame(w, &wire.BlobUpload{ID: b.ID, Size: uint64(b.Size), Stored: uint64(b.Stored),
		Expires: b.Expires, Capability: capa, Key: key})
}

func blobStatus(b blob.Blob) *wire.BlobStatus {
	return &wire.BlobStatus{ID: b.ID, Size: uint64(b.Size), Stored: uint64(b.Stored), Done: b.Done, Expires: b.Expires}
}

// handleBlobAppend stores one part: PATCH with Upload-Offset and a body of
// Content-Length bytes, authorized by a capability and a request MAC.
func (r *relay) handleBlobAppend(w http.ResponseWriter, req *http.Request) {
	id, werr := pathBlobID(req)
	if werr != nil {
		r.writeError(w, werr)
		return
	}
	auth, werr := r.authorizeUpload(req, id)
	if werr != nil {
		r.writeError(w, werr)
		return
	}
	off, err := strconv.ParseUint(req.Header.Get(wire.OffsetHeader), 10, 63)
	switch {
	case err != nil:
		r.writeError(w, wire.Errorf(wire.CodeMalformed, "missing or bad "+wire.OffsetHeader))
		return
	case req.ContentLength < 1:
		r.writeError(w, wire.Errorf(wire.CodeMalformed, "a part needs a Content-Length"))
		return
	case req.ContentLength > MaxBlobPart:
		r.writeError(w, wire.Errorf(wire.CodeTooLarge, "part exceeds "+strconv.Itoa(MaxBlobPart)+" bytes"))
		return
	}
	body := &idleReader{r: req.Body, rc: http.NewResponseController(w)}
	verify := func(sum [32]byte) error { return auth.check(req, off, sum) }
	b, err := r.blobs.store.Append(req.Context(), id, int64(off), body, req.ContentLength, verify)
	if err != nil {
		r.writeError(w, r.blobError(w, "blob append", err))
		return
	}
	w.Header().Set(wire.OffsetHeader, strconv.FormatInt(b.Stored, 10))
	r.writeFrame(w, blobStatus(b))
}

func (r *relay) handleBlobStatus(w http.ResponseWriter, req *http.Request) {
	id, werr := pathBlobID(req)
	if werr != nil {
		r.writeError(w, werr)
		return
	}
	auth, werr := r.authorizeUpload(req, id)
	if werr == nil {
		werr = asWire(auth.check(req, 0, sha256.Sum256(nil)))
	}
	if werr != nil {
		r.writeError(w, werr)
		return
	}
	b, err := r.blobs.store.Stat(req.Context(), id)
	if err != nil {
		r.writeError(w, r.blobError(w, "blob status", err))
		return
	}
	r.writeFrame(w, blobStatus(b))
}

func (r *relay) handleBlobFinish(w http.ResponseWriter, req *http.Request) {
	id, werr := pathBlobID(req)
	if werr != nil {
		r.writeError(w, werr)
		return
	}
	auth, werr := r.authorizeUpload(req, id)
	if werr != nil {
		r.writeError(w, werr)
		return
	}
	body, werr := readBody(w, req, maxSmallBody)
	if werr == nil {
		werr = asWire(auth.check(req, 0, sha256.Sum256(body)))
	}
	if werr != nil {
		r.writeError(w, werr)
		return
	}
	f, err := wire.ParseAs[*wire.BlobFinish](body)
	if err != nil {
		r.writeError(w, wire.Errorf(wire.CodeMalformed, "want a blob-finish frame"))
		return
	}
	b, err := r.blobs.store.Finish(req.Context(), id, f.SHA256, r.now().Add(r.blobs.ttl))
	if err != nil {
		r.writeError(w, r.blobError(w, "blob finish", err))
		return
	}
	r.log.Debug("blob finished", "device", auth.cap.Address.String(), "size", b.Size)
	r.writeFrame(w, blobStatus(b))
}

// handleBlobDownload serves a finished blob to anyone who knows its ID,
// whole or one range of it (blobrange.go); the bytes are end-to-end
// ciphertext.
func (r *relay) handleBlobDownload(w http.ResponseWriter, req *http.Request) {
	if !r.blobs.downloadL.allow(clientKey(req.RemoteAddr)) {
		r.writeError(w, wire.Errorf(wire.CodeRateLimited, "too many downloads from this network"))
		return
	}
	id, werr := pathBlobID(req)
	if werr != nil {
		r.writeError(w, werr)
		return
	}
	rd, err := r.blobs.store.Open(req.Context(), id)
	if err != nil {
		r.writeError(w, r.blobError(w, "blob open", err))
		return
	}
	defer rd.Close()
	r.serveBlob(w, req, rd)
}

func (r *relay) handleBlobList(w http.ResponseWriter, req *http.Request, dev store.Device, _ []byte) {
	bs, err := r.blobs.store.List(req.Context(), dev.Address.User)
	if err != nil {
		r.writeError(w, r.blobError(w, "blob list", err))
		return
	}
	u, err := r.blobs.store.Usage(req.Context(), dev.Address.User)
	if err != nil {
		r.writeError(w, r.blobError(w, "blob usage", err))
		return
	}
	l := &wire.BlobList{Used: uint64(u.Bytes), Quota: uint64(r.blobs.quota)}
	for _, b := range bs[:min(len(bs), wire.MaxBlobList)] {
		l.Blobs = append(l.Blobs, *blobStatus(b))
	}
	r.writeFrame(w, l)
}

// handleBlobDelete lets a device of the owning user delete a blob early.
func (r *relay) handleBlobDelete(w http.ResponseWriter, req *http.Request, dev store.Device, _ []byte) {
	id, werr := pathBlobID(req)
	if werr != nil {
		r.writeError(w, werr)
		return
	}
	b, err := r.blobs.store.Stat(req.Context(), id)
	if err == nil && b.Owner.User != dev.Address.User {
		err = blob.ErrNotFound
	}
	if err == nil {
		err = r.blobs.store.Delete(req.Context(), id)
	}
	if err != nil {
		r.writeError(w, r.blobError(w, "blob delete", err))
		return
	}
	r.writeFrame(w, &wire.OK{})
}

// sweepBlobs removes expired blobs and idle rate-limit buckets.
func (r *relay) sweepBlobs() {
	r.blobs.uploadL.prune()
	r.blobs.downloadL.prune()
	for range maxSweepRounds {
		n, err := r.blobs.store.Expire(r.ctx, r.now(), store.MaxBatch)
		if err != nil {
			if r.ctx.Err() == nil {
				r.log.Error("blob expiry", "err", err)
			}
			return
		}
		if n > 0 {
			r.log.Info("blobs expired", "count", n)
		}
		if n < store.MaxBatch {
			return
		}
	}
}

func asWire(err error) *wire.Error {
	if err == nil {
		return nil
	}
	if we, ok := err.(*wire.Error); ok {
		return we
	}
	return wire.Errorf(wire.CodeInternal, "blob")
}

// idleReader extends the request's read deadline while the body moves.
type idleReader struct {
	r  io.Reader
	rc *http.ResponseController
}

func (i *idleReader) Read(p []byte) (int, error) {
	i.rc.SetReadDeadline(time.Now().Add(idleTransfer))
	return i.r.Read(p)
}

// idleWriter extends the response's write deadline while bytes go out.
type idleWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
}

func (i *idleWriter) Write(p []byte) (int, error) {
	i.rc.SetWriteDeadline(time.Now().Add(idleTransfer))
	return i.ResponseWriter.Write(p)
}
