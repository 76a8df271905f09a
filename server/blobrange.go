package server

import (
	"io"
	"net/http"
	"strconv"
	"strings"

	"parley.dev/internal/blob"
	"parley.dev/internal/wire"
)

// A download answers one byte range at most: what a client needs to resume
// (docs/protocol.md, "Relay blob API"). net/http's ServeContent would also
// answer several ranges (multipart/byteranges, a format no Parley client
// reads) and refuses bad ones in plain text; the relay instead answers
// every Range it does not serve with 416 and an Error frame (bad-range),
// like every other refusal of the API. RFC 9110 (15.5.17) allows 416 for
// a request of more ranges than a server is willing to serve.

// errOneRange is the answer to a Range header that is not one range of
// bytes: several ranges, another unit, or bad syntax.
var errOneRange = wire.Errorf(wire.CodeRange, "one range of bytes only: bytes=FIRST-[LAST] or bytes=-SUFFIX")

// byteRange reads the Range header h of a request for size bytes and
// returns the range to send. With no header (or, per RFC 9110, an If-Range
// that does not name this blob) it is the whole blob and partial is false.
// An unsatisfiable range (starting at or past the end) is errUnsatisfiable.
func byteRange(h, ifRange, etag string, size int64) (first, n int64, partial bool, werr *wire.Error) {
	if h == "" || (ifRange != "" && ifRange != etag) {
		return 0, size, false, nil
	}
	spec, ok := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return 0, 0, false, errOneRange
	}
	a, b, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return 0, 0, false, errOneRange
	}
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	if a == "" { // the last b bytes
		k, err := strconv.ParseInt(b, 10, 64)
		switch {
		case err != nil || k < 0:
			return 0, 0, false, errOneRange
		case k == 0 || size == 0:
			return 0, 0, false, errUnsatisfiable
		}
		k = min(k, size)
		return size - k, k, true, nil
	}
	first, err := strconv.ParseInt(a, 10, 64)
	if err != nil || first < 0 {
		return 0, 0, false, errOneRange
	}
	last := size - 1
	if b != "" {
		if last, err = strconv.ParseInt(b, 10, 64); err != nil || last < first {
			return 0, 0, false, errOneRange
		}
		last = min(last, size-1)
	}
	if first >= size {
		return 0, 0, false, errUnsatisfiable
	}
	return first, last - first + 1, true, nil
}

// errUnsatisfiable is the answer to a range that starts past the blob.
var errUnsatisfiable = wire.Errorf(wire.CodeRange, "range starts past the end of the blob")

// serveBlob answers a GET or HEAD of a finished blob: all of it (200) or
// one range (206).
func (r *relay) serveBlob(w http.ResponseWriter, req *http.Request, rd *blob.Reader) {
	size := rd.Blob.Size
	h := w.Header()
	etag := `"` + rd.Blob.ID.String() + `"`
	h.Set("Accept-Ranges", "bytes")
	h.Set("ETag", etag)
	first, n, partial, werr := byteRange(req.Header.Get("Range"), req.Header.Get("If-Range"), etag, size)
	if werr != nil {
		h.Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
		r.writeError(w, werr)
		return
	}
	if _, err := rd.Seek(first, io.SeekStart); err != nil {
		r.writeError(w, r.internal("blob seek", err))
		return
	}
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.FormatInt(n, 10))
	status := http.StatusOK
	if partial {
		status = http.StatusPartialContent
		h.Set("Content-Range", "bytes "+strconv.FormatInt(first, 10)+"-"+strconv.FormatInt(first+n-1, 10)+"/"+strconv.FormatInt(size, 10))
	}
	w.WriteHeader(status)
	if req.Method == http.MethodHead {
		return
	}
	iw := &idleWriter{ResponseWriter: w, rc: http.NewResponseController(w)}
	if _, err := io.CopyN(iw, rd, n); err != nil && req.Context().Err() == nil {
		r.log.Debug("blob download cut", "err", err)
	}
}
