package content

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// TestTimerKinds: a timed message round-trips with its base kind and
// timer; its kind byte is the timed one and the timer follows the header
// (and recipient); an untimed message keeps the original bytes.
func TestTimerKinds(t *testing.T) {
	for _, m := range []*Message{
		{Kind: KindTimer, ID: testID, Sent: time.UnixMilli(5), Timer: 24 * time.Hour},
		{Kind: KindTimer, ID: testID, Sent: time.UnixMilli(5)}, // off
		{Kind: KindTimerTranscript, ID: testID, Sent: time.UnixMilli(5), To: "bob", Timer: time.Minute},
		{Kind: KindText, ID: testID, Sent: time.UnixMilli(5), Text: "hi", Timer: 90 * time.Second},
		{Kind: KindTranscript, ID: testID, Sent: time.UnixMilli(5), To: "bob", Text: "hi", Timer: time.Second},
		{Kind: KindAttachment, ID: testID, Sent: time.UnixMilli(5), Attachment: sampleAttachment(), Timer: time.Hour},
	} {
		b, err := Marshal(m)
		if err != nil {
			t.Fatalf("%+v: %v", m, err)
		}
		got, err := Parse(b)
		if err != nil || got.Kind != m.Kind || got.Timer != m.Timer || got.Text != m.Text || got.To != m.To {
			t.Fatalf("round trip of %+v: %+v, %v", m, got, err)
		}
		if m.Timer > 0 && !m.Kind.isTimer() && Kind(b[1]) == m.Kind {
			t.Errorf("a timed kind %d is encoded as the untimed one", m.Kind)
		}
	}
	plain, _ := Marshal(&Message{Kind: KindText, ID: testID, Sent: time.UnixMilli(5), Text: "hi"})
	timed, _ := Marshal(&Message{Kind: KindText, ID: testID, Sent: time.UnixMilli(5), Text: "hi", Timer: 2 * time.Second})
	if plain[1] != 0x01 || timed[1] != 0x32 || !bytes.Equal(timed[2:2+16+8], plain[2:2+16+8]) ||
		!bytes.Equal(timed[26:30], []byte{0, 0, 0, 2}) || !bytes.Equal(timed[30:], plain[26:]) {
		t.Fatalf("layout:\nplain %x\ntimed %x", plain, timed)
	}
	zero := bytes.Clone(timed)
	copy(zero[26:30], []byte{0, 0, 0, 0})
	if _, err := Parse(zero); !errors.Is(err, ErrMalformed) {
		t.Errorf("a timed kind with timer 0: %v", err)
	}
	for _, bad := range []*Message{
		{Kind: KindTimer, ID: testID, Sent: time.UnixMilli(5), Timer: time.Hour, Text: "x"},
		{Kind: KindText, ID: testID, Sent: time.UnixMilli(5), Text: "x", Timer: 1500 * time.Millisecond},
		{Kind: KindText, ID: testID, Sent: time.UnixMilli(5), Text: "x", Timer: MaxTimer + time.Second},
		{Kind: KindGroupText, ID: testID, Sent: time.UnixMilli(5), Text: "x", Timer: time.Hour},
		{Kind: KindTimerTranscript, ID: testID, Sent: time.UnixMilli(5), Timer: time.Hour},
	} {
		if _, err := Marshal(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("Marshal(%+v) = %v", bad, err)
		}
	}
}
