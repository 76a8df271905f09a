package wire

import (
	"golang.org/x/crypto/cryptobyte"

	"parley.dev/internal/addr"
)

// Group fan-out frames (types 0x80-0x8F belong to groups). A device
// submits one group message once, with the list of devices to store it
// for; the relay stores it in each of their mailboxes (Deliver kind
// KindGroup) and answers once every copy is durable.
const (
	// TypeGroupSubmit: msgid | u24-prefixed payload (not empty) | u16 count
	// (1..MaxGroupRecipients) | count × address, in strictly ascending
	// order (user ID bytes, then device).
	TypeGroupSubmit Type = 0x80
	// TypeGroupSubmitResult: msgid | u16 stored (copies durable, new or
	// already stored) | u16 count | count × (address | u16 code, nonzero):
	// the recipients the relay did not store it for, and why.
	TypeGroupSubmitResult Type = 0x81
)

// MaxGroupRecipients is the most devices one GroupSubmit names. A larger
// group is sent in several frames with the same message ID.
const MaxGroupRecipients = 4096

// KindGroup is a Deliver of a group message: end-to-end ciphertext that
// the sender submitted once for many devices (GroupSubmit).
const KindGroup Kind = 3

func init() {
	typeNames[TypeGroupSubmit] = "group-submit"
	typeNames[TypeGroupSubmitResult] = "group-submit-result"
}

func newGroupFrame(t Type) Frame {
	switch t {
	case TypeGroupSubmit:
		return new(GroupSubmit)
	case TypeGroupSubmitResult:
		return new(GroupSubmitResult)
	case TypeDeviceListsRequest:
		return new(DeviceListsRequest)
	case TypeDeviceLists:
		return new(DeviceLists)
	}
	return nil
}

// GroupSubmit queues one group message for many devices (TypeGroupSubmit).
// Resubmitting it is harmless: each mailbox stores a message ID of one
// sender once.
type GroupSubmit struct {
	ID      addr.MessageID
	Payload []byte
	To      []addr.Address // ascending, no repeats
}

// Type returns TypeGroupSubmit.
func (*GroupSubmit) Type() Type { return TypeGroupSubmit }

func (m *GroupSubmit) appendBody(b *cryptobyte.Builder) {
	b.AddBytes(m.ID[:])
	addPayload(b, m.Payload)
	b.AddUint16(uint16(len(m.To)))
	for _, a := range m.To {
		addAddress(b, a)
	}
}

func (m *GroupSubmit) parseBody(s *cryptobyte.String) error {
	if !readMessageID(s, &m.ID) {
		return malformed("group submit")
	}
	if err := readPayload(s, &m.Payload, "group submit"); err != nil {
		return err
	}
	if len(m.Payload) == 0 {
		return malformed("group submit: empty payload")
	}
	var n uint16
	if !s.ReadUint16(&n) || n == 0 || n > MaxGroupRecipients {
		return malformed("group submit: recipient count")
	}
	m.To = make([]addr.Address, n)
	for i := range m.To {
		if !readAddress(s, &m.To[i], false) || i > 0 && !AddressLess(m.To[i-1], m.To[i]) {
			return malformed("group submit: recipients")
		}
	}
	return nil
}

// AddressLess orders addresses as GroupSubmit lists them: by user ID
// bytes, then by device.
func AddressLess(a, b addr.Address) bool {
	if a.User != b.User {
		return a.User < b.User
	}
	return a.Device < b.Device
}

// GroupFailure is a recipient a GroupSubmit was not stored for.
type GroupFailure struct {
	To   addr.Address
	Code Code // nonzero: CodeUnknownDevice, CodeMailboxFull, ...
}

// GroupSubmitResult answers one GroupSubmit (TypeGroupSubmitResult) once
// every copy it stored is durable.
type GroupSubmitResult struct {
	ID       addr.MessageID
	Stored   uint16
	Failures []GroupFailure
}

// Type returns TypeGroupSubmitResult.
func (*GroupSubmitResult) Type() Type { return TypeGroupSubmitResult }

func (r *GroupSubmitResult) appendBody(b *cryptobyte.Builder) {
	b.AddBytes(r.ID[:])
	b.AddUint16(r.Stored)
	b.AddUint16(uint16(len(r.Failures)))
	for _, f := range r.Failures {
		addAddress(b, f.To)
		b.AddUint16(uint16(f.Code))
	}
}

func (r *GroupSubmitResult) parseBody(s *cryptobyte.String) error {
	var n uint16
	if !readMessageID(s, &r.ID) || !s.ReadUint16(&r.Stored) || !s.ReadUint16(&n) ||
		n > MaxGroupRecipients || int(r.Stored)+int(n) > MaxGroupRecipients {
		return malformed("group submit result")
	}
	r.Failures = make([]GroupFailure, n)
	for i := range r.Failures {
		var code uint16
		if !readAddress(s, &r.Failures[i].To, false) || !s.ReadUint16(&code) || code == 0 {
			return malformed("group submit result: failures")
		}
		r.Failures[i].Code = Code(code)
	}
	return nil
}

// Device lists of many users in one request, for a group's members.
const (
	// TypeDeviceListsRequest: u16 count (1..MaxDeviceListsBatch) ×
	// u8-prefixed user ID, in strictly ascending order.
	TypeDeviceListsRequest Type = 0x82
	// TypeDeviceLists: u16 count × (the body of a DeviceList), for the
	// users of the request that exist, in the request's order.
	TypeDeviceLists Type = 0x83
)

// MaxDeviceListsBatch is the most users one DeviceListsRequest names, so
// that the answer fits a frame even at MaxDevices devices each.
const MaxDeviceListsBatch = 64

func init() {
	typeNames[TypeDeviceListsRequest] = "device-lists-request"
	typeNames[TypeDeviceLists] = "device-lists"
}

// DeviceListsRequest asks for the device lists of several users.
type DeviceListsRequest struct {
	Users []addr.UserID // ascending, no repeats
}

// Type returns TypeDeviceListsRequest.
func (*DeviceListsRequest) Type() Type { return TypeDeviceListsRequest }

func (m *DeviceListsRequest) appendBody(b *cryptobyte.Builder) {
	b.AddUint16(uint16(len(m.Users)))
	for _, u := range m.Users {
		addUser(b, u)
	}
}

func (m *DeviceListsRequest) parseBody(s *cryptobyte.String) error {
	var n uint16
	if !s.ReadUint16(&n) || n == 0 || n > MaxDeviceListsBatch {
		return malformed("device lists request: count")
	}
	m.Users = make([]addr.UserID, n)
	for i := range m.Users {
		if !readUser(s, &m.Users[i]) || i > 0 && m.Users[i-1] >= m.Users[i] {
			return malformed("device lists request: users")
		}
	}
	return nil
}

// DeviceLists answers a DeviceListsRequest: the lists of the users that
// exist (an unknown user is left out).
type DeviceLists struct {
	Lists []DeviceList
}

// Type returns TypeDeviceLists.
func (*DeviceLists) Type() Type { return TypeDeviceLists }

func (m *DeviceLists) appendBody(b *cryptobyte.Builder) {
	b.AddUint16(uint16(len(m.Lists)))
	for i := range m.Lists {
		m.Lists[i].appendBody(b)
	}
}

func (m *DeviceLists) parseBody(s *cryptobyte.String) error {
	var n uint16
	if !s.ReadUint16(&n) || n > MaxDeviceListsBatch {
		return malformed("device lists: count")
	}
	m.Lists = make([]DeviceList, n)
	for i := range m.Lists {
		if err := m.Lists[i].parseBody(s); err != nil {
			return err
		}
		if i > 0 && m.Lists[i-1].User >= m.Lists[i].User {
			return malformed("device lists: order")
		}
	}
	return nil
}
