// Package testclient is a raw relay client for the relay's own tests and
// benchmarks: it speaks the wire format directly (challenges, proofs,
// frames, the WebSocket), so that tests can also send what a well-behaved
// SDK never would. It is not the SDK.
package testclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"

	"parley.dev/internal/addr"
	"parley.dev/internal/keys"
	"parley.dev/internal/wire"
)

// Timeout bounds every request and every wait for a frame in tests: a
// failure deadline, not a sleep.
const Timeout = 10 * time.Second

// Device is one device's keys and relay connection settings.
type Device struct {
	Base     string // relay base URL
	HTTP     *http.Client
	TLS      *tls.Config
	User     addr.UserID
	Identity *keys.Identity
	Key      *keys.DeviceKey
	Cert     []byte
	Addr     addr.Address // set by Register
}

// NewDevice returns a new device of user with a fresh device key,
// certified by id.
func NewDevice(t testing.TB, base string, conf *tls.Config, user addr.UserID, id *keys.Identity) *Device {
	t.Helper()
	key, err := keys.GenerateDeviceKey()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := id.SignDeviceCert(user, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return &Device{
		Base: base, TLS: conf, User: user, Identity: id, Key: key, Cert: cert,
		HTTP: &http.Client{Transport: &http.Transport{TLSClientConfig: conf, MaxIdleConnsPerHost: 64}, Timeout: Timeout},
	}
}

// NewIdentity returns a fresh identity or fails t.
func NewIdentity(t testing.TB) *keys.Identity {
	t.Helper()
	id, err := keys.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// Response is a raw relay response: its status and the frame it carried.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	Frame  wire.Frame // nil if the body is not a frame
}

// Err returns the response's Error frame as an error, or nil.
func (r *Response) Err() error {
	if e, ok := r.Frame.(*wire.Error); ok {
		return e
	}
	if r.Status != http.StatusOK {
		return fmt.Errorf("testclient: status %d", r.Status)
	}
	return nil
}

// Code returns the response's error code (CodeOK on success).
func (r *Response) Code() wire.Code {
	if e, ok := r.Frame.(*wire.Error); ok {
		return e.Code
	}
	return wire.CodeOK
}

// Raw sends a request with the given Authorization header (none if "").
func (d *Device) Raw(method, path string, body []byte, auth string) (*Response, error) {
	req, err := http.NewRequest(method, d.Base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if body != nil {
		req.Header.Set("Content-Type", wire.ContentType)
	}
	resp, err := d.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	r := &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
	r.Frame, _ = wire.Parse(b)
	return r, nil
}

// Challenge fetches a fresh challenge.
func (d *Device) Challenge() ([wire.ChallengeLen]byte, error) {
	r, err := d.Raw("POST", "/v1/challenge", nil, "")
	if err != nil {
		return [wire.ChallengeLen]byte{}, err
	}
	c, ok := r.Frame.(*wire.Challenge)
	if !ok {
		return [wire.ChallengeLen]byte{}, fmt.Errorf("testclient: challenge: %v", r.Err())
	}
	return c.Nonce, nil
}

// Sign returns the Authorization header for one request as device a (its
// Device may be 0 when registering), signed with key, over challenge ch.
func Sign(key *keys.DeviceKey, a addr.Address, ch [wire.ChallengeLen]byte, method, path string, body []byte) string {
	msg, err := wire.ProofMessage(ch, a, method, path, body)
	if err != nil {
		panic(err)
	}
	p := &wire.Proof{Address: a, Challenge: ch}
	copy(p.Signature[:], key.Sign(msg))
	h, err := p.Authorization()
	if err != nil {
		panic(err)
	}
	return h
}

// Authorization fetches a challenge and signs one request as d.
func (d *Device) Authorization(method, path string, body []byte) (string, error) {
	ch, err := d.Challenge()
	if err != nil {
		return "", err
	}
	return Sign(d.Key, d.Addr, ch, method, path, body), nil
}

// Do sends an authenticated request.
func (d *Device) Do(method, path string, body []byte) (*Response, error) {
	auth, err := d.Authorization(method, path, body)
	if err != nil {
		return nil, err
	}
	return d.Raw(method, path, body, auth)
}

// Call sends an authenticated request carrying frame in (nil: no body)
// and returns the response frame, or the relay's error.
func (d *Device) Call(method, path string, in wire.Frame) (wire.Frame, error) {
	var body []byte
	if in != nil {
		var err error
		if body, err = wire.Marshal(in); err != nil {
			return nil, err
		}
	}
	r, err := d.Do(method, path, body)
	if err != nil {
		return nil, err
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	return r.Frame, nil
}

// RegisterBody returns the Register frame of d with token.
func (d *Device) RegisterBody(token string) []byte {
	b, err := wire.Marshal(&wire.Register{User: d.User, Identity: d.Identity.Public().Bytes(),
		DeviceKey: d.Key.Public().Bytes(), DeviceCert: d.Cert, Token: token})
	if err != nil {
		panic(err)
	}
	return b
}

// RegisterRaw registers d and returns the raw response.
func (d *Device) RegisterRaw(token string) (*Response, error) {
	body := d.RegisterBody(token)
	ch, err := d.Challenge()
	if err != nil {
		return nil, err
	}
	auth := Sign(d.Key, addr.Address{User: d.User}, ch, "POST", "/v1/register", body)
	r, err := d.Raw("POST", "/v1/register", body, auth)
	if err == nil {
		if reg, ok := r.Frame.(*wire.Registered); ok {
			d.Addr = reg.Address
		}
	}
	return r, err
}

// Register registers d, failing t on any error.
func (d *Device) Register(t testing.TB, token string) {
	t.Helper()
	r, err := d.RegisterRaw(token)
	if err != nil {
		t.Fatalf("register %s: %v", d.User, err)
	}
	if err := r.Err(); err != nil {
		t.Fatalf("register %s: %v", d.User, err)
	}
}

// B64 is unpadded base64url, the proof text encoding.
var B64 = base64.RawURLEncoding

// WS is a device's WebSocket.
type WS struct {
	Conn    *websocket.Conn
	Welcome *wire.Welcome
}

// DialRaw opens the WebSocket with the given Authorization header (none
// if "") and query string, returning the HTTP response on failure.
func (d *Device) DialRaw(ctx context.Context, auth, query string) (*websocket.Conn, *http.Response, error) {
	h := http.Header{}
	if auth != "" {
		h.Set("Authorization", auth)
	}
	url := "wss" + d.Base[len("https"):] + "/v1/ws" + query
	c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: d.HTTP, HTTPHeader: h})
	if c != nil {
		c.SetReadLimit(wire.MaxFrame)
	}
	return c, resp, err
}

// Dial opens d's WebSocket and reads the Welcome frame, asking for no
// optional Welcome field: the original layout.
func (d *Device) Dial(t testing.TB) *WS {
	t.Helper()
	return d.DialQuery(t, "")
}

// DialQuiet opens d's WebSocket as the SDK does, asking to be told that
// quiet Acks are taken.
func (d *Device) DialQuiet(t testing.TB) *WS {
	t.Helper()
	return d.DialQuery(t, "?"+wire.QuietAcksQuery+"=1")
}

// DialQuery opens d's WebSocket with the query string given ("" or
// "?...") and reads the Welcome frame.
func (d *Device) DialQuery(t testing.TB, query string) *WS {
	t.Helper()
	auth, err := d.Authorization("GET", "/v1/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	c, _, err := d.DialRaw(ctx, auth, query)
	if err != nil {
		t.Fatalf("dial %s: %v", d.Addr, err)
	}
	ws := &WS{Conn: c}
	t.Cleanup(func() { c.CloseNow() })
	w, err := ws.Next()
	if err != nil {
		t.Fatalf("dial %s: %v", d.Addr, err)
	}
	if ws.Welcome, _ = w.(*wire.Welcome); ws.Welcome == nil {
		t.Fatalf("dial %s: first frame %v, want welcome", d.Addr, w.Type())
	}
	return ws
}

// Send writes one frame.
func (w *WS) Send(f wire.Frame) error {
	b, err := wire.Marshal(f)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	return w.Conn.Write(ctx, websocket.MessageBinary, b)
}

// SendRaw writes one binary message as is.
func (w *WS) SendRaw(b []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	return w.Conn.Write(ctx, websocket.MessageBinary, b)
}

// Next reads one frame, waiting at most Timeout.
func (w *WS) Next() (wire.Frame, error) {
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	return w.NextCtx(ctx)
}

// NextCtx reads one frame.
func (w *WS) NextCtx(ctx context.Context) (wire.Frame, error) {
	typ, b, err := w.Conn.Read(ctx)
	if err != nil {
		return nil, err
	}
	if typ != websocket.MessageBinary {
		return nil, fmt.Errorf("testclient: %v message", typ)
	}
	return wire.Parse(b)
}

// LastResortID is the ID of the last-resort KEM prekey PreKeys uploads.
const LastResortID = 1_000_000

// PreKeys returns an upload of d's user's prekeys: with base set, a signed
// X25519 prekey (ID 1) and a last-resort ML-KEM prekey (LastResortID);
// then nEC one-time X25519 and nKEM one-time ML-KEM prekeys with IDs from
// first.
func (d *Device) PreKeys(t testing.TB, base bool, first uint32, nEC, nKEM int) *wire.PreKeyUpload {
	t.Helper()
	up := &wire.PreKeyUpload{}
	if base {
		spk, err := keys.GenerateSignedPreKey(1)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := d.Identity.SignSignedPreKey(d.Addr, spk.Public())
		if err != nil {
			t.Fatal(err)
		}
		up.Signed = &wire.PreKey{ID: 1, Public: spk.Public().Bytes(), Signature: sig}
		up.LastResortKEM = d.kemPreKey(t, LastResortID, true)
	}
	for i := range nEC {
		id := first + uint32(i)
		k, err := keys.GenerateOneTimePreKey(keys.PreKeyID(id))
		if err != nil {
			t.Fatal(err)
		}
		up.OneTimeEC = append(up.OneTimeEC, wire.PreKey{ID: id, Public: k.Public().Bytes()})
	}
	for i := range nKEM {
		up.OneTimeKEM = append(up.OneTimeKEM, *d.kemPreKey(t, first+uint32(i), false))
	}
	return up
}

func (d *Device) kemPreKey(t testing.TB, id uint32, lastResort bool) *wire.PreKey {
	k, err := keys.GenerateKEMPreKey(keys.PreKeyID(id), lastResort)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := d.Identity.SignKEMPreKey(d.Addr, k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return &wire.PreKey{ID: id, Public: k.Public().Bytes(), Signature: sig}
}

// SetReceiveBuffer makes d's new connections use a socket receive buffer
// of n bytes (turning off the kernel's autotuning), so that a test can
// fill it: a stalled reader on loopback could otherwise buffer tens of MB.
func (d *Device) SetReceiveBuffer(n int) {
	dialer := &net.Dialer{}
	d.HTTP = &http.Client{Timeout: Timeout, Transport: &http.Transport{
		TLSClientConfig: d.TLS,
		DialContext: func(ctx context.Context, network, address string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, address)
			if err != nil {
				return nil, err
			}
			if tc, ok := c.(*net.TCPConn); ok {
				tc.SetReadBuffer(n)
			}
			return c, nil
		},
	}}
}
