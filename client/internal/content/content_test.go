package content

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"parley.dev/internal/addr"
)

var testID = addr.MessageID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}

func TestRoundTrip(t *testing.T) {
	sent := time.UnixMilli(1_800_000_000_123)
	for _, m := range []*Message{
		{Kind: KindText, ID: testID, Sent: sent, Text: "hello, Bob"},
		{Kind: KindText, ID: testID, Sent: sent},
		{Kind: KindTranscript, ID: testID, Sent: sent, To: "bob", Text: "héllo ✓"},
		{Kind: KindText, ID: testID, Sent: sent, Text: strings.Repeat("x", MaxTextLen)},
	} {
		b, err := Marshal(m)
		if err != nil {
			t.Fatalf("Marshal(%+v): %v", m.Kind, err)
		}
		got, err := Parse(b)
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		if got.Kind != m.Kind || got.ID != m.ID || !got.Sent.Equal(m.Sent) || got.To != m.To || got.Text != m.Text {
			t.Errorf("round trip: got %+v, want %+v", got, m)
		}
	}
}

// TestKnownEncoding freezes the layout documented in the package doc.
func TestKnownEncoding(t *testing.T) {
	m := &Message{Kind: KindTranscript, ID: testID, Sent: time.UnixMilli(0x0102030405), To: "bob", Text: "hi"}
	b, err := Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{1, 2}
	want = append(want, testID[:]...)
	want = append(want, 0, 0, 0, 1, 2, 3, 4, 5, 3, 'b', 'o', 'b', 0, 0, 2, 'h', 'i')
	if !bytes.Equal(b, want) {
		t.Fatalf("encoding\n got %x\nwant %x", b, want)
	}
}

func TestRefusesInvalid(t *testing.T) {
	sent := time.UnixMilli(1)
	for name, m := range map[string]*Message{
		"kind":           {Kind: 9, ID: testID, Sent: sent},
		"zero ID":        {Kind: KindText, Sent: sent},
		"negative time":  {Kind: KindText, ID: testID, Sent: time.UnixMilli(-1)},
		"no recipient":   {Kind: KindTranscript, ID: testID, Sent: sent},
		"bad recipient":  {Kind: KindTranscript, ID: testID, Sent: sent, To: "Bob"},
		"text recipient": {Kind: KindText, ID: testID, Sent: sent, To: "bob"},
		"too long":       {Kind: KindText, ID: testID, Sent: sent, Text: strings.Repeat("x", MaxTextLen+1)},
		"not UTF-8":      {Kind: KindText, ID: testID, Sent: sent, Text: "\xff"},
	} {
		if _, err := Marshal(m); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Marshal err = %v, want ErrMalformed", name, err)
		}
	}
}

func TestParseRefusesEveryTruncationAndTrailer(t *testing.T) {
	b, err := Marshal(&Message{Kind: KindTranscript, ID: testID, Sent: time.UnixMilli(7), To: "bob", Text: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(b) {
		if _, err := Parse(b[:n]); !errors.Is(err, ErrMalformed) {
			t.Errorf("Parse(first %d bytes) err = %v, want ErrMalformed", n, err)
		}
	}
	if _, err := Parse(append(bytes.Clone(b), 0)); !errors.Is(err, ErrMalformed) {
		t.Errorf("Parse(with trailer) err = %v", err)
	}
	bad := bytes.Clone(b)
	bad[0] = 2
	if _, err := Parse(bad); !errors.Is(err, ErrMalformed) {
		t.Errorf("Parse(version 2) err = %v", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, m := range []*Message{
		{Kind: KindText, ID: testID, Sent: time.UnixMilli(5), Text: "hello"},
		{Kind: KindTranscript, ID: testID, Sent: time.UnixMilli(5), To: "bob", Text: "hello"},
		{Kind: KindAttachment, ID: testID, Sent: time.UnixMilli(5), Attachment: sampleAttachment()},
		{Kind: KindAttachmentTranscript, ID: testID, Sent: time.UnixMilli(5), To: "bob", Text: "cap", Attachment: sampleAttachment()},
		{Kind: KindGroupKey, ID: testID, Sent: time.UnixMilli(5), Body: []byte("distribution")},
		{Kind: KindGroupText, ID: testID, Sent: time.UnixMilli(5), Text: "hello, team"},
		{Kind: KindTimer, ID: testID, Sent: time.UnixMilli(5), Timer: time.Hour},
		{Kind: KindTimerTranscript, ID: testID, Sent: time.UnixMilli(5), To: "bob"},
		{Kind: KindText, ID: testID, Sent: time.UnixMilli(5), Text: "gone soon", Timer: time.Minute},
		{Kind: KindAttachmentTranscript, ID: testID, Sent: time.UnixMilli(5), To: "bob", Attachment: sampleAttachment(), Timer: time.Minute},
	} {
		b, _ := Marshal(m)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			return
		}
		again, err := Marshal(m)
		if err != nil {
			t.Fatalf("Marshal of a parsed message: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("not canonical:\n in %x\nout %x", b, again)
		}
	})
}
