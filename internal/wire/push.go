package wire

import (
	"strconv"

	"golang.org/x/crypto/cryptobyte"
)

// Push wake-ups (workstream frame types 0xA0-0xA7, codes 70-74;
// docs/protocol.md, "Push wake-ups"). A device leaves the relay an opaque
// push token of its platform's notification service; while the device has
// no connection, the relay asks the operator's push gateway to wake it
// when mail is stored for it. The token reaches the relay over the
// device's authenticated connection (a Request with OpPushRegister or
// OpPushClear) or an authenticated HTTP request (PathPush).
const (
	// TypePushRegister: u8 platform (1: FCM, 2: APNs) | u16-prefixed
	// token (1..MaxPushToken bytes of [A-Za-z0-9_:.-]).
	TypePushRegister Type = 0xA0
)

// Push request operations. They reuse the workstream's frame numbers so
// that they cannot collide with other workstreams' operations.
const (
	// OpPushRegister: PUT PathPush. Fields: a PushRegister body. Answer: OK.
	OpPushRegister Op = 0xA0
	// OpPushClear: DELETE PathPush. No fields. Answer: OK.
	OpPushClear Op = 0xA1
)

// CodePushDisabled: the relay has no push gateway, so it keeps no push
// tokens.
const CodePushDisabled Code = 70

// PathPush is the endpoint of a device's own push registration: PUT with
// a PushRegister frame sets it, DELETE clears it. Both carry a device
// proof.
const PathPush = "/v1/push"

// MaxPushToken is the longest push token. FCM registration tokens are
// about 160 characters and APNs device tokens 64 hex digits; the bound
// leaves room for their growth and no more.
const MaxPushToken = 512

// PushPlatform names the notification service a push token belongs to.
type PushPlatform uint8

// Push platforms. Numbers are part of the protocol.
const (
	PushFCM  PushPlatform = 1 // Firebase Cloud Messaging (Android)
	PushAPNs PushPlatform = 2 // Apple Push Notification service (iOS)
)

// String returns the platform's name, "fcm" or "apns", as the push
// gateway's JSON body carries it.
func (p PushPlatform) String() string {
	switch p {
	case PushFCM:
		return "fcm"
	case PushAPNs:
		return "apns"
	}
	return "platform-" + strconv.Itoa(int(p))
}

// Valid reports whether p is a known platform.
func (p PushPlatform) Valid() bool { return p == PushFCM || p == PushAPNs }

// ParsePushPlatform reads a platform's name ("fcm" or "apns").
func ParsePushPlatform(s string) (PushPlatform, bool) {
	switch s {
	case "fcm":
		return PushFCM, true
	case "apns":
		return PushAPNs, true
	}
	return 0, false
}

// ValidPushToken reports whether t is a well-formed push token: 1 to
// MaxPushToken bytes of letters, digits and "_:.-" (FCM tokens use the
// base64url alphabet and ':', APNs tokens hex digits).
func ValidPushToken(t string) bool {
	if len(t) == 0 || len(t) > MaxPushToken {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '_' || c == ':' || c == '.' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

// PushRegister sets the sending device's push token (TypePushRegister),
// replacing any it had. Token is a secret of sorts: whoever holds it can
// wake the device. Never log it.
type PushRegister struct {
	Platform PushPlatform
	Token    string
}

// Type returns TypePushRegister.
func (*PushRegister) Type() Type { return TypePushRegister }

func (p *PushRegister) appendBody(b *cryptobyte.Builder) {
	b.AddUint8(uint8(p.Platform))
	addBytes16(b, []byte(p.Token))
}

func (p *PushRegister) parseBody(s *cryptobyte.String) error {
	var platform uint8
	var token []byte
	if !s.ReadUint8(&platform) || !PushPlatform(platform).Valid() {
		return malformed("push: unknown platform")
	}
	if !readBytes16(s, &token, MaxPushToken, false) || !ValidPushToken(string(token)) {
		return malformed("push: token")
	}
	p.Platform, p.Token = PushPlatform(platform), string(token)
	return nil
}

func init() { typeNames[TypePushRegister] = "push-register" }

// newPushFrame returns an empty push frame of type t, or nil.
func newPushFrame(t Type) Frame {
	if t == TypePushRegister {
		return new(PushRegister)
	}
	return nil
}
