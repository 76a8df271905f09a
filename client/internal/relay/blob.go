package relay

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"parley.dev/internal/wire"
)

const pathBlobs = "/v1/blobs"

// blobPath is a blob's path: its ID in unpadded base64url.
func blobPath(id [wire.BlobIDLen]byte) string {
	return pathBlobs + "/" + b64(id[:])
}

// CreateBlob asks for a blob of size bytes (one signed request) and
// returns it with an upload capability and its key.
func (c *Client) CreateBlob(ctx context.Context, a Auth, size uint64) (*wire.BlobUpload, error) {
	body, err := wire.Marshal(&wire.BlobCreate{Size: size})
	if err != nil {
		return nil, err
	}
	return request[*wire.BlobUpload](ctx, c, http.MethodPost, pathBlobs, body, &a)
}

// RenewBlob returns a fresh capability for an upload of this device, and
// how much of it the relay has.
func (c *Client) RenewBlob(ctx context.Context, a Auth, id [wire.BlobIDLen]byte) (*wire.BlobUpload, error) {
	return request[*wire.BlobUpload](ctx, c, http.MethodPost, blobPath(id)+"/capability", nil, &a)
}

// partTimeout bounds one upload request: a base plus time for the body at
// a slow mobile rate.
func partTimeout(n int) time.Duration { return RequestTimeout + time.Duration(n/(16<<10))*time.Second }

// AppendBlob uploads part at offset under the capability of up.
func (c *Client) AppendBlob(ctx context.Context, up *wire.BlobUpload, offset uint64, part []byte) (*wire.BlobStatus, error) {
	return capRequest[*wire.BlobStatus](ctx, c, up, http.MethodPatch, blobPath(up.ID), offset, part)
}

// BlobStatus asks how much of an upload the relay has.
func (c *Client) BlobStatus(ctx context.Context, up *wire.BlobUpload) (*wire.BlobStatus, error) {
	return capRequest[*wire.BlobStatus](ctx, c, up, http.MethodGet, blobPath(up.ID)+"/upload", 0, nil)
}

// FinishBlob closes an upload with the SHA-256 of the whole blob.
func (c *Client) FinishBlob(ctx context.Context, up *wire.BlobUpload, sum [32]byte) (*wire.BlobStatus, error) {
	body, err := wire.Marshal(&wire.BlobFinish{SHA256: sum})
	if err != nil {
		return nil, err
	}
	return capRequest[*wire.BlobStatus](ctx, c, up, http.MethodPost, blobPath(up.ID)+"/finish", 0, body)
}

// capRequest makes an upload request authorized by up's capability.
func capRequest[F wire.Frame](ctx context.Context, c *Client, up *wire.BlobUpload, method, path string, offset uint64, body []byte) (F, error) {
	var zero F
	msg, err := wire.BlobRequestMessage(method, path, offset, sha256.Sum256(body))
	if err != nil {
		return zero, err
	}
	m := hmac.New(sha256.New, up.Key[:])
	m.Write(msg)
	u, node := c.nodes.current()
	u.Path = path
	ctx, cancel := context.WithTimeout(ctx, partTimeout(len(body)))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return zero, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	req.Header.Set("Authorization", wire.UploadAuthorization(up.Capability, [32]byte(m.Sum(nil))))
	if method == http.MethodPatch {
		req.Header.Set(wire.OffsetHeader, strconv.FormatUint(offset, 10))
		req.Header.Set("Content-Type", "application/offset+octet-stream")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		cerr := classify(ctx, err)
		c.nodes.failed(node, cerr) // the transfer's retry goes to the next node
		return zero, cerr
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, wire.MaxFrame+1))
	if err != nil {
		return zero, classify(ctx, err)
	}
	if resp.StatusCode != http.StatusOK {
		return zero, errorAnswer(resp.StatusCode, data)
	}
	f, err := wire.ParseAs[F](data)
	if err != nil {
		return zero, fmt.Errorf("%w: %s %s: %v", ErrProtocol, method, path, err)
	}
	return f, nil
}

// Download is a blob being downloaded: its bytes from Offset on. Close it.
type Download struct {
	io.ReadCloser
	Offset int64 // where the body starts in the blob
}

// DownloadBlob fetches blob id from offset on (an HTTP Range). No device
// proof is needed: the ID is unguessable and the bytes are ciphertext. The
// caller bounds the transfer with ctx.
func (c *Client) DownloadBlob(ctx context.Context, id [wire.BlobIDLen]byte, offset int64) (*Download, error) {
	u, node := c.nodes.current()
	u.Path = blobPath(id)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if offset > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		cerr := classify(ctx, err)
		c.nodes.failed(node, cerr)
		return nil, cerr
	}
	switch {
	case resp.StatusCode == http.StatusOK && offset == 0, resp.StatusCode == http.StatusPartialContent && offset > 0:
		return &Download{ReadCloser: resp.Body, Offset: offset}, nil
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, wire.MaxFrame+1))
	if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusPartialContent {
		return nil, fmt.Errorf("%w: range not honoured", ErrProtocol)
	}
	return nil, errorAnswer(resp.StatusCode, data)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// DeleteBlob deletes a blob of the caller's user before it expires.
func (c *Client) DeleteBlob(ctx context.Context, a Auth, id [wire.BlobIDLen]byte) error {
	_, err := request[*wire.OK](ctx, c, http.MethodDelete, blobPath(id), nil, &a)
	return err
}
