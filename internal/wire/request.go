package wire

import (
	"strconv"

	"golang.org/x/crypto/cryptobyte"

	"parley.dev/internal/addr"
)

// Op names what a Request asks for. Each is one of the authenticated
// HTTP endpoints, carried over the device's WebSocket instead, where the
// connection's authentication stands in for a challenge and proof.
type Op uint8

// Request operations. Numbers are part of the protocol.
const (
	// OpDevices: GET /v1/users/{user}/devices. Answer: DeviceList.
	OpDevices Op = 1
	// OpBundle: POST /v1/users/{user}/devices/{device}/bundle. Answer: Bundle.
	OpBundle Op = 2
	// OpPreKeyUpload: PUT /v1/prekeys. Answer: PreKeyStatus.
	OpPreKeyUpload Op = 3
	// OpPreKeyStatus: GET /v1/prekeys. Answer: PreKeyStatus.
	OpPreKeyStatus Op = 4
	// OpRevoke: DELETE /v1/users/{user}/devices/{device}. Answer: OK.
	OpRevoke Op = 5
	// OpDeviceLists: POST /v1/devices (group.go). Answer: DeviceLists.
	OpDeviceLists Op = 6
)

var opNames = [...]string{OpDevices: "devices", OpBundle: "bundle", OpPreKeyUpload: "prekey-upload",
	OpPreKeyStatus: "prekey-status", OpRevoke: "revoke", OpDeviceLists: "device-lists"}

// String returns the operation's name, such as "bundle".
func (o Op) String() string {
	if int(o) < len(opNames) && opNames[o] != "" {
		return opNames[o]
	}
	switch o {
	case OpPushRegister:
		return "push-register"
	case OpPushClear:
		return "push-clear"
	}
	return "op-" + strconv.Itoa(int(o))
}

// Request is one authenticated request over the WebSocket (TypeRequest).
// The relay answers each with a Response carrying the same ID; answers
// may come in any order. Which fields are set depends on Op: User for
// OpDevices, Target for OpBundle and OpRevoke, Upload for OpPreKeyUpload,
// Users for OpDeviceLists, Push for OpPushRegister.
type Request struct {
	ID     uint32
	Op     Op
	User   addr.UserID
	Target addr.Address
	Upload *PreKeyUpload
	Users  *DeviceListsRequest
	Push   *PushRegister
}

// Type returns TypeRequest.
func (*Request) Type() Type { return TypeRequest }

func (r *Request) appendBody(b *cryptobyte.Builder) {
	b.AddUint32(r.ID)
	b.AddUint8(uint8(r.Op))
	switch r.Op {
	case OpDevices:
		addUser(b, r.User)
	case OpBundle, OpRevoke:
		addAddress(b, r.Target)
	case OpPreKeyUpload:
		if r.Upload == nil {
			b.SetError(malformed("request: no upload"))
			return
		}
		r.Upload.appendBody(b)
	case OpPreKeyStatus:
	case OpDeviceLists:
		if r.Users == nil {
			b.SetError(malformed("request: no users"))
			return
		}
		r.Users.appendBody(b)
	case OpPushRegister:
		if r.Push == nil {
			b.SetError(malformed("request: no push registration"))
			return
		}
		r.Push.appendBody(b)
	case OpPushClear:
	default:
		b.SetError(malformed("request: unknown op"))
	}
}

func (r *Request) parseBody(s *cryptobyte.String) error {
	var op uint8
	if !s.ReadUint32(&r.ID) || !s.ReadUint8(&op) {
		return malformed("request")
	}
	r.Op = Op(op)
	switch r.Op {
	case OpDevices:
		if !readUser(s, &r.User) {
			return malformed("request: user")
		}
	case OpBundle, OpRevoke:
		if !readAddress(s, &r.Target, false) {
			return malformed("request: target")
		}
	case OpPreKeyUpload:
		r.Upload = new(PreKeyUpload)
		return r.Upload.parseBody(s)
	case OpDeviceLists:
		r.Users = new(DeviceListsRequest)
		return r.Users.parseBody(s)
	case OpPushRegister:
		r.Push = new(PushRegister)
		return r.Push.parseBody(s)
	case OpPreKeyStatus, OpPushClear:
	default:
		return malformed("request: unknown op " + r.Op.String())
	}
	return nil
}

// Response answers the Request with the same ID (TypeResponse). Answer is
// the frame the matching HTTP endpoint returns: a DeviceList, Bundle,
// PreKeyStatus or OK, or an Error.
type Response struct {
	ID     uint32
	Answer Frame
}

// Type returns TypeResponse.
func (*Response) Type() Type { return TypeResponse }

func (r *Response) appendBody(b *cryptobyte.Builder) {
	b.AddUint32(r.ID)
	if r.Answer == nil || !answerType(r.Answer.Type()) {
		b.SetError(malformed("response: answer type"))
		return
	}
	b.AddUint8(Version)
	b.AddUint8(uint8(r.Answer.Type()))
	r.Answer.appendBody(b)
}

func (r *Response) parseBody(s *cryptobyte.String) error {
	var version, typ uint8
	if !s.ReadUint32(&r.ID) || !s.ReadUint8(&version) || !s.ReadUint8(&typ) {
		return malformed("response")
	}
	if version != Version || !answerType(Type(typ)) {
		return malformed("response: answer type")
	}
	r.Answer = newFrame(Type(typ))
	return r.Answer.parseBody(s)
}

// answerType reports whether a Response may carry a frame of type t.
func answerType(t Type) bool {
	switch t {
	case TypeError, TypeOK, TypeDeviceList, TypeBundle, TypePreKeyStatus, TypeDeviceLists:
		return true
	}
	return false
}
