package wire

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"time"

	"golang.org/x/crypto/cryptobyte"

	"parley.dev/internal/addr"
)

// Attachment blobs (workstream frame types 0x90-0x9F, codes 80-89).
// docs/protocol.md, "Blobs", describes the endpoints that carry them.
const (
	// TypeBlobCreate: u64 size (the ciphertext's bytes).
	TypeBlobCreate Type = 0x90
	// TypeBlobUpload: blob ID (16) | u64 size | u64 stored | time
	// (expiry) | u16-prefixed capability (a BlobCapability frame) |
	// 32-byte capability key.
	TypeBlobUpload Type = 0x91
	// TypeBlobStatus: blob ID (16) | u64 size | u64 stored | bool (done) |
	// time (expiry).
	TypeBlobStatus Type = 0x92
	// TypeBlobFinish: 32-byte SHA-256 of the whole blob.
	TypeBlobFinish Type = 0x93
	// TypeBlobList: u64 bytes used | u64 quota | u16 count | count × the
	// body of a BlobStatus.
	TypeBlobList Type = 0x94
	// TypeBlobCapability: blob ID (16) | address (the uploading device) |
	// time (expiry) | 32-byte MAC by the relay.
	TypeBlobCapability Type = 0x95
)

// Blob error codes.
const (
	CodeQuota     Code = 80 // the user's blob quota (bytes or count) would be exceeded
	CodeNoBlob    Code = 81 // no such blob, unfinished, or expired
	CodeOffset    Code = 82 // an upload at another offset than the bytes stored
	CodeBlobState Code = 83 // finished already, not complete yet, or another upload runs
	CodeChecksum  Code = 84 // the blob's SHA-256 is not the one given
	CodeRange     Code = 85 // a download's Range is not one range of bytes within the blob
)

// Blob sizes.
const (
	// BlobIDLen is the size of a blob ID.
	BlobIDLen = 16
	// BlobKeyLen is the size of a capability key and of a MAC.
	BlobKeyLen = 32
	// MaxBlobList is the most blobs a BlobList carries.
	MaxBlobList = 1000
)

// Blob upload authentication (see docs/protocol.md, "Blobs").
const (
	// UploadScheme is the Authorization scheme of upload requests:
	// "ParleyUpload <capability>.<request MAC>", both unpadded base64url.
	UploadScheme = "ParleyUpload"
	// CapabilityLabel starts the bytes the relay MACs into a capability.
	CapabilityLabel = "parley blob capability v1\x00"
	// BlobRequestLabel starts the bytes a device MACs for one upload
	// request (see BlobRequestMessage).
	BlobRequestLabel = "parley blob request v1\x00"
	// OffsetHeader carries an upload's offset (as tus's Upload-Offset).
	OffsetHeader = "Upload-Offset"
)

func init() {
	for t, n := range map[Type]string{TypeBlobCreate: "blob-create", TypeBlobUpload: "blob-upload",
		TypeBlobStatus: "blob-status", TypeBlobFinish: "blob-finish", TypeBlobList: "blob-list",
		TypeBlobCapability: "blob-capability"} {
		typeNames[t] = n
	}
}

func newBlobFrame(t Type) Frame {
	switch t {
	case TypeBlobCreate:
		return new(BlobCreate)
	case TypeBlobUpload:
		return new(BlobUpload)
	case TypeBlobStatus:
		return new(BlobStatus)
	case TypeBlobFinish:
		return new(BlobFinish)
	case TypeBlobList:
		return new(BlobList)
	case TypeBlobCapability:
		return new(BlobCapability)
	}
	return nil
}

// BlobCreate asks for a new blob of Size bytes (TypeBlobCreate).
type BlobCreate struct{ Size uint64 }

// Type returns TypeBlobCreate.
func (*BlobCreate) Type() Type                         { return TypeBlobCreate }
func (c *BlobCreate) appendBody(b *cryptobyte.Builder) { b.AddUint64(c.Size) }
func (c *BlobCreate) parseBody(s *cryptobyte.String) error {
	if !s.ReadUint64(&c.Size) || c.Size == 0 || c.Size > 1<<62 {
		return malformed("blob-create: size")
	}
	return nil
}

// BlobUpload answers a create or a capability renewal (TypeBlobUpload):
// the blob, how much is stored, and a capability with its key for the
// upload requests. Key is secret: it authenticates requests and never
// travels again.
type BlobUpload struct {
	ID           [BlobIDLen]byte
	Size, Stored uint64
	Expires      time.Time
	Capability   []byte // a BlobCapability frame
	Key          [BlobKeyLen]byte
}

// Type returns TypeBlobUpload.
func (*BlobUpload) Type() Type { return TypeBlobUpload }

func (u *BlobUpload) appendBody(b *cryptobyte.Builder) {
	b.AddBytes(u.ID[:])
	b.AddUint64(u.Size)
	b.AddUint64(u.Stored)
	addTime(b, u.Expires)
	addBytes16(b, u.Capability)
	b.AddBytes(u.Key[:])
}

func (u *BlobUpload) parseBody(s *cryptobyte.String) error {
	if !s.CopyBytes(u.ID[:]) || !s.ReadUint64(&u.Size) || !s.ReadUint64(&u.Stored) || u.Stored > u.Size ||
		!readTime(s, &u.Expires) || !readBytes16(s, &u.Capability, MaxSignature, false) || !s.CopyBytes(u.Key[:]) {
		return malformed("blob-upload")
	}
	return nil
}

// BlobStatus is where an upload stands (TypeBlobStatus).
type BlobStatus struct {
	ID           [BlobIDLen]byte
	Size, Stored uint64
	Done         bool
	Expires      time.Time
}

// Type returns TypeBlobStatus.
func (*BlobStatus) Type() Type { return TypeBlobStatus }

func (st *BlobStatus) appendBody(b *cryptobyte.Builder) {
	b.AddBytes(st.ID[:])
	b.AddUint64(st.Size)
	b.AddUint64(st.Stored)
	addBool(b, st.Done)
	addTime(b, st.Expires)
}

func (st *BlobStatus) parseBody(s *cryptobyte.String) error {
	if !s.CopyBytes(st.ID[:]) || !s.ReadUint64(&st.Size) || !s.ReadUint64(&st.Stored) || st.Stored > st.Size ||
		!readBool(s, &st.Done) || (st.Done && st.Stored != st.Size) || !readTime(s, &st.Expires) {
		return malformed("blob-status")
	}
	return nil
}

// BlobFinish closes an upload with the blob's SHA-256 (TypeBlobFinish).
type BlobFinish struct{ SHA256 [sha256.Size]byte }

// Type returns TypeBlobFinish.
func (*BlobFinish) Type() Type                         { return TypeBlobFinish }
func (f *BlobFinish) appendBody(b *cryptobyte.Builder) { b.AddBytes(f.SHA256[:]) }
func (f *BlobFinish) parseBody(s *cryptobyte.String) error {
	if !s.CopyBytes(f.SHA256[:]) {
		return malformed("blob-finish")
	}
	return nil
}

// BlobList lists the caller's own blobs (TypeBlobList).
type BlobList struct {
	Used, Quota uint64
	Blobs       []BlobStatus
}

// Type returns TypeBlobList.
func (*BlobList) Type() Type { return TypeBlobList }

func (l *BlobList) appendBody(b *cryptobyte.Builder) {
	b.AddUint64(l.Used)
	b.AddUint64(l.Quota)
	if len(l.Blobs) > MaxBlobList {
		b.SetError(malformed("blob-list: too many"))
		return
	}
	b.AddUint16(uint16(len(l.Blobs)))
	for i := range l.Blobs {
		l.Blobs[i].appendBody(b)
	}
}

func (l *BlobList) parseBody(s *cryptobyte.String) error {
	var n uint16
	if !s.ReadUint64(&l.Used) || !s.ReadUint64(&l.Quota) || !s.ReadUint16(&n) || n > MaxBlobList {
		return malformed("blob-list")
	}
	l.Blobs = make([]BlobStatus, n)
	for i := range l.Blobs {
		if err := l.Blobs[i].parseBody(s); err != nil {
			return err
		}
	}
	return nil
}

// BlobCapability lets Address upload to blob ID until Expires without a
// challenge per request (TypeBlobCapability). The relay MACs it with a key
// only relays know; it is public (it travels in a header) but useless
// without the capability key, which the device MACs each request with.
type BlobCapability struct {
	ID      [BlobIDLen]byte
	Address addr.Address
	Expires time.Time
	MAC     [BlobKeyLen]byte
}

// Type returns TypeBlobCapability.
func (*BlobCapability) Type() Type { return TypeBlobCapability }

func (c *BlobCapability) appendSigned(b *cryptobyte.Builder) {
	b.AddBytes(c.ID[:])
	addAddress(b, c.Address)
	addTime(b, c.Expires)
}

func (c *BlobCapability) appendBody(b *cryptobyte.Builder) {
	c.appendSigned(b)
	b.AddBytes(c.MAC[:])
}

func (c *BlobCapability) parseBody(s *cryptobyte.String) error {
	if !s.CopyBytes(c.ID[:]) || !readAddress(s, &c.Address, false) || !readTime(s, &c.Expires) || !s.CopyBytes(c.MAC[:]) {
		return malformed("blob-capability")
	}
	return nil
}

// MACMessage returns what the relay MACs: CapabilityLabel | the body
// without the MAC.
func (c *BlobCapability) MACMessage() ([]byte, error) {
	b := cryptobyte.NewBuilder([]byte(CapabilityLabel))
	c.appendSigned(b)
	return b.Bytes()
}

// BlobRequestMessage returns what a device MACs with its capability key
// for one upload request:
//
//	BlobRequestLabel | u8-prefixed method | u16-prefixed URL path |
//	u64 offset | SHA-256(body)
func BlobRequestMessage(method, path string, offset uint64, body [sha256.Size]byte) ([]byte, error) {
	b := cryptobyte.NewBuilder([]byte(BlobRequestLabel))
	addString8(b, method)
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(path)) })
	b.AddUint64(offset)
	b.AddBytes(body[:])
	return b.Bytes()
}

// UploadAuthorization formats the Authorization header of an upload
// request.
func UploadAuthorization(capability []byte, mac [BlobKeyLen]byte) string {
	enc := base64.RawURLEncoding
	return UploadScheme + " " + enc.EncodeToString(capability) + "." + enc.EncodeToString(mac[:])
}

// ParseUploadAuthorization reads an upload request's Authorization header.
func ParseUploadAuthorization(h string) (*BlobCapability, [BlobKeyLen]byte, error) {
	var mac [BlobKeyLen]byte
	rest, ok := strings.CutPrefix(h, UploadScheme+" ")
	capText, macText, ok2 := strings.Cut(rest, ".")
	// Go's base64 decoder skips line breaks even in strict mode; a header
	// has one spelling, so refuse them.
	if !ok || !ok2 || len(h) > 1024 || strings.ContainsAny(h, "\r\n") {
		return nil, mac, malformed("upload authorization")
	}
	enc := base64.RawURLEncoding.Strict()
	capBytes, err1 := enc.DecodeString(capText)
	macBytes, err2 := enc.DecodeString(macText)
	if err1 != nil || err2 != nil || len(macBytes) != BlobKeyLen {
		return nil, mac, malformed("upload authorization")
	}
	c, err := ParseAs[*BlobCapability](capBytes)
	if err != nil {
		return nil, mac, err
	}
	copy(mac[:], macBytes)
	return c, mac, nil
}
