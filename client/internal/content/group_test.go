package content

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func TestGroupKinds(t *testing.T) {
	sent := time.UnixMilli(1_800_000_000_123)
	for _, m := range []*Message{
		{Kind: KindGroupChange, ID: testID, Sent: sent, Body: []byte{1, 2, 3}},
		{Kind: KindGroupWelcome, ID: testID, Sent: sent, Body: []byte{4}},
		{Kind: KindGroupKey, ID: testID, Sent: sent, Body: bytes.Repeat([]byte{5}, 200)},
		{Kind: KindGroupText, ID: testID, Sent: sent, Text: "hello, team"},
	} {
		b, err := Marshal(m)
		if err != nil {
			t.Fatalf("%v: %v", m.Kind, err)
		}
		got, err := Parse(b)
		if err != nil || got.Kind != m.Kind || !bytes.Equal(got.Body, m.Body) || got.Text != m.Text {
			t.Fatalf("%v round trip: %+v, %v", m.Kind, got, err)
		}
	}
	for name, m := range map[string]*Message{
		"control without body": {Kind: KindGroupChange, ID: testID, Sent: sent},
		"control with text":    {Kind: KindGroupKey, ID: testID, Sent: sent, Body: []byte{1}, Text: "x"},
		"control recipient":    {Kind: KindGroupWelcome, ID: testID, Sent: sent, Body: []byte{1}, To: "bob"},
		"text with body":       {Kind: KindGroupText, ID: testID, Sent: sent, Body: []byte{1}},
		"body in a text":       {Kind: KindText, ID: testID, Sent: sent, Body: []byte{1}},
		"too large":            {Kind: KindGroupChange, ID: testID, Sent: sent, Body: make([]byte, MaxBodyLen+1)},
	} {
		if _, err := Marshal(m); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
