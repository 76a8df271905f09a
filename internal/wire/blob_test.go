package wire

import (
	"bytes"
	"crypto/sha256"
	"testing"
	"time"

	"parley.dev/internal/addr"
)

func blobSamples() []Frame {
	exp := time.UnixMilli(1700000000123)
	capa := &BlobCapability{ID: [16]byte{1}, Address: alice1, Expires: exp, MAC: [32]byte{2}}
	cb, _ := Marshal(capa)
	st := BlobStatus{ID: [16]byte{1}, Size: 100, Stored: 40, Expires: exp}
	return []Frame{
		&BlobCreate{Size: 100 << 20},
		&BlobUpload{ID: [16]byte{1}, Size: 100, Stored: 40, Expires: exp, Capability: cb, Key: [32]byte{3}},
		&st,
		&BlobFinish{SHA256: [32]byte{4}},
		&BlobList{Used: 140, Quota: 1 << 30, Blobs: []BlobStatus{st, {ID: [16]byte{2}, Size: 40, Stored: 40, Done: true, Expires: exp}}},
		capa,
	}
}

func TestBlobFramesRefuseNonsense(t *testing.T) {
	bad := []Frame{
		&BlobCreate{Size: 0},
		&BlobStatus{Size: 10, Stored: 11},
		&BlobStatus{Size: 10, Stored: 9, Done: true},
		&BlobCapability{Address: addr.Address{User: "alice"}},
	}
	for _, f := range bad {
		if _, err := Marshal(f); err == nil {
			t.Errorf("Marshal(%+v) succeeded", f)
		}
	}
}

func TestUploadAuthorizationRoundTrip(t *testing.T) {
	c := &BlobCapability{ID: [16]byte{7}, Address: bob2, Expires: time.UnixMilli(1700000000000), MAC: [32]byte{8}}
	cb, err := Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	h := UploadAuthorization(cb, [32]byte{9})
	got, mac, err := ParseUploadAuthorization(h)
	if err != nil || *got != *c || mac != [32]byte{9} {
		t.Fatalf("round trip: %+v %x %v", got, mac, err)
	}
	for _, bad := range []string{"", "Parley " + h[len(UploadScheme)+1:], h + "=", h[:len(h)-1], UploadScheme + " a.b"} {
		if _, _, err := ParseUploadAuthorization(bad); err == nil {
			t.Errorf("ParseUploadAuthorization(%q) succeeded", bad)
		}
	}
	m1, _ := BlobRequestMessage("PATCH", "/v1/blobs/x", 5, sha256.Sum256(nil))
	m2, _ := BlobRequestMessage("PATCH", "/v1/blobs/x", 6, sha256.Sum256(nil))
	m3, _ := BlobRequestMessage("PATCH", "/v1/blobs/y", 5, sha256.Sum256(nil))
	if bytes.Equal(m1, m2) || bytes.Equal(m1, m3) {
		t.Fatal("request messages do not bind offset and path")
	}
}

// FuzzParseUploadAuthorization: the upload header's decoder never panics,
// and what it accepts re-encodes to the same header.
func FuzzParseUploadAuthorization(f *testing.F) {
	c := &BlobCapability{ID: [16]byte{7}, Address: bob2, Expires: time.UnixMilli(1700000000000)}
	cb, _ := Marshal(c)
	f.Add(UploadAuthorization(cb, [32]byte{9}))
	f.Fuzz(func(t *testing.T, h string) {
		got, mac, err := ParseUploadAuthorization(h)
		if err != nil {
			return
		}
		b, err := Marshal(got)
		if err != nil || UploadAuthorization(b, mac) != h {
			t.Fatalf("not canonical: %q", h)
		}
	})
}
