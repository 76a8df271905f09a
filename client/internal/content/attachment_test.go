package content

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func sampleAttachment() *Attachment {
	return &Attachment{Key: [32]byte{1}, Blob: [16]byte{2}, Size: 1 << 20, SHA256: [32]byte{3},
		Type: "image/jpeg", Name: "cat.jpg", Width: 640, Height: 480, Duration: 1500 * time.Millisecond}
}

func TestAttachmentRoundTrip(t *testing.T) {
	for _, m := range []*Message{
		{Kind: KindAttachment, ID: testID, Sent: time.UnixMilli(9), Text: "a caption", Attachment: sampleAttachment()},
		{Kind: KindAttachmentTranscript, ID: testID, Sent: time.UnixMilli(9), To: "bob", Attachment: sampleAttachment()},
	} {
		b, err := Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Parse(b)
		if err != nil || *got.Attachment != *m.Attachment || got.Text != m.Text || got.To != m.To || got.Kind != m.Kind {
			t.Fatalf("round trip of kind %d: %+v, %v", m.Kind, got, err)
		}
		for n := range len(b) {
			if _, err := Parse(b[:n]); !errors.Is(err, ErrMalformed) {
				t.Fatalf("truncated to %d bytes parsed", n)
			}
		}
		if _, err := Parse(append(bytes.Clone(b), 0)); err == nil {
			t.Fatal("trailing byte parsed")
		}
	}
}

func TestAttachmentRefusesInvalid(t *testing.T) {
	mod := func(f func(a *Attachment)) *Attachment { a := sampleAttachment(); f(a); return a }
	for name, m := range map[string]*Message{
		"attachment without kind": {Kind: KindText, ID: testID, Attachment: sampleAttachment()},
		"kind without attachment": {Kind: KindAttachment, ID: testID},
		"path in name":            {Kind: KindAttachment, ID: testID, Attachment: mod(func(a *Attachment) { a.Name = "../etc/passwd" })},
		"dot-dot name":            {Kind: KindAttachment, ID: testID, Attachment: mod(func(a *Attachment) { a.Name = ".." })},
		"control in name":         {Kind: KindAttachment, ID: testID, Attachment: mod(func(a *Attachment) { a.Name = "a\x1b[2Jb" })},
		"control in type":         {Kind: KindAttachment, ID: testID, Attachment: mod(func(a *Attachment) { a.Type = "image/\n" })},
		"size too small":          {Kind: KindAttachment, ID: testID, Attachment: mod(func(a *Attachment) { a.Size = 3 })},
		"transcript no recipient": {Kind: KindAttachmentTranscript, ID: testID, Attachment: sampleAttachment()},
	} {
		if _, err := Marshal(m); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
