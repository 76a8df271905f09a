package wire

import (
	"golang.org/x/crypto/cryptobyte"

	"parley.dev/internal/addr"
)

// Register asks the relay to register a new device of User (TypeRegister).
// Identity, DeviceKey and DeviceCert are the internal/keys encodings of the
// user's public identity, the new device's public key and the identity's
// certificate for it. Token is a registration token's text, empty when the
// relay registers openly. The request's proof is signed by the new device
// key with device number 0.
type Register struct {
	User       addr.UserID
	Identity   []byte
	DeviceKey  []byte
	DeviceCert []byte
	Token      string
}

// Type returns TypeRegister.
func (*Register) Type() Type { return TypeRegister }

func (r *Register) appendBody(b *cryptobyte.Builder) {
	addUser(b, r.User)
	addBytes16(b, r.Identity)
	addBytes16(b, r.DeviceKey)
	addBytes16(b, r.DeviceCert)
	addBytes16(b, []byte(r.Token))
}

func (r *Register) parseBody(s *cryptobyte.String) error {
	var token []byte
	switch {
	case !readUser(s, &r.User):
		return malformed("register: user")
	case !readBytes16(s, &r.Identity, MaxKey, false):
		return malformed("register: identity")
	case !readBytes16(s, &r.DeviceKey, MaxKey, false):
		return malformed("register: device key")
	case !readBytes16(s, &r.DeviceCert, MaxSignature, false):
		return malformed("register: certificate")
	case !readBytes16(s, &token, MaxToken, true) || !printable(token):
		return malformed("register: token")
	}
	r.Token = string(token)
	return nil
}

// Registered tells a device its address (TypeRegistered).
type Registered struct {
	Address addr.Address
}

// Type returns TypeRegistered.
func (*Registered) Type() Type { return TypeRegistered }

func (r *Registered) appendBody(b *cryptobyte.Builder) { addAddress(b, r.Address) }

func (r *Registered) parseBody(s *cryptobyte.String) error {
	if !readAddress(s, &r.Address, false) {
		return malformed("registered: address")
	}
	return nil
}

// DeviceList is a user's identity and current devices (TypeDeviceList), in
// ascending device order. A client encrypts to each device whose
// certificate verifies under the identity it knows.
type DeviceList struct {
	User     addr.UserID
	Identity []byte
	Devices  []DeviceInfo
}

// DeviceInfo is one device of a DeviceList.
type DeviceInfo struct {
	Device addr.DeviceID
	Key    []byte
	Cert   []byte
}

// Type returns TypeDeviceList.
func (*DeviceList) Type() Type { return TypeDeviceList }

func (l *DeviceList) appendBody(b *cryptobyte.Builder) {
	addUser(b, l.User)
	addBytes16(b, l.Identity)
	b.AddUint16(uint16(min(len(l.Devices), MaxDevices+1)))
	for _, d := range l.Devices {
		b.AddUint32(uint32(d.Device))
		addBytes16(b, d.Key)
		addBytes16(b, d.Cert)
	}
}

func (l *DeviceList) parseBody(s *cryptobyte.String) error {
	var n uint16
	if !readUser(s, &l.User) || !readBytes16(s, &l.Identity, MaxKey, false) || !s.ReadUint16(&n) || n > MaxDevices {
		return malformed("device list")
	}
	l.Devices = make([]DeviceInfo, n)
	for i := range l.Devices {
		d := &l.Devices[i]
		var id uint32
		if !s.ReadUint32(&id) || !readBytes16(s, &d.Key, MaxKey, false) || !readBytes16(s, &d.Cert, MaxSignature, false) {
			return malformed("device list: device")
		}
		d.Device = addr.DeviceID(id)
		if id == 0 || i > 0 && d.Device <= l.Devices[i-1].Device {
			return malformed("device list: device numbers not ascending")
		}
	}
	return nil
}
