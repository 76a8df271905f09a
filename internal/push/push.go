// Package push wakes phones whose app is asleep when mail waits for them,
// without telling anyone what the mail is.
//
// A device leaves the relay an opaque push token of its platform's
// notification service (FCM or APNs). When the relay stores an envelope
// for a device with no live connection, a Notifier POSTs to the operator's
// push gateway a JSON body that holds the token and the platform and
// nothing else:
//
//	{"platform":"fcm","token":"..."}
//
// No sender, no count, no content, no message ID. The gateway (the
// reference one is cmd/parley-push) holds the FCM and APNs credentials and
// asks Google or Apple to wake the app, which then connects, drains its
// mailbox and disconnects. The relay never holds those credentials; this
// is the Matrix Sygnal and Signal model.
//
// Every request is signed (Sign, Verifier): an HMAC-SHA256 under a secret
// the relay and the gateway share, over a millisecond timestamp and the
// body, both in headers. The gateway refuses a request whose signature
// does not verify, whose timestamp is more than MaxSkew away from its own
// clock, or that it has seen before.
//
// Wake-ups are coalesced: at most one per device per Window while mail
// waits, with the window kept in the store so that every relay node shares
// it (store.PushStore.ClaimPush). A device's connection resets it. Pushes
// run on the Notifier's own goroutines, off the relay's submit path: a
// slow, failing or hanging gateway never delays or loses an envelope (the
// envelope is in the mailbox before the Notifier hears of it), and the
// queue in front of them is bounded.
package push

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"parley.dev/internal/wire"
)

// Request is the push gateway's JSON body: the device's notification
// service and its opaque token. Nothing else about the device or its mail
// reaches the gateway. Token wakes the device: never log it.
type Request struct {
	Platform string `json:"platform"` // "fcm" or "apns"
	Token    string `json:"token"`
}

// MaxBody bounds a gateway request's body: a token of wire.MaxPushToken
// bytes and the JSON around it.
const MaxBody = wire.MaxPushToken + 64

// ErrBadRequest is wrapped by ParseRequest's errors.
var ErrBadRequest = errors.New("push: bad request")

// Marshal returns r's JSON body, after checking it as ParseRequest would.
func (r Request) Marshal() ([]byte, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	return json.Marshal(r)
}

func (r Request) check() error {
	if _, ok := wire.ParsePushPlatform(r.Platform); !ok {
		return fmt.Errorf("%w: platform must be \"fcm\" or \"apns\"", ErrBadRequest)
	}
	if !wire.ValidPushToken(r.Token) {
		return fmt.Errorf("%w: token must be 1..%d bytes of [A-Za-z0-9_:.-]", ErrBadRequest, wire.MaxPushToken)
	}
	return nil
}

// ParseRequest reads a gateway request's body strictly: one JSON object
// with exactly the fields platform and token, a known platform and a
// well-formed token, at most MaxBody bytes. Errors wrap ErrBadRequest.
func ParseRequest(body []byte) (Request, error) {
	var r Request
	if len(body) > MaxBody {
		return Request{}, fmt.Errorf("%w: body over %d bytes", ErrBadRequest, MaxBody)
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(&r); err != nil {
		return Request{}, fmt.Errorf("%w: not the JSON object {platform, token}", ErrBadRequest)
	}
	if _, err := d.Token(); err != io.EOF {
		return Request{}, fmt.Errorf("%w: data after the JSON object", ErrBadRequest)
	}
	if err := r.check(); err != nil {
		return Request{}, err
	}
	return r, nil
}
