package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"parley.dev/internal/addr"
)

var (
	alice1 = addr.Address{User: "alice", Device: 1}
	bob2   = addr.Address{User: "bob", Device: 2}
	msgID  = addr.MessageID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
)

// samples holds one valid frame of every type.
func samples() []Frame {
	pk := func(id uint32, n int, sig bool) PreKey {
		k := PreKey{ID: id, Public: bytes.Repeat([]byte{byte(id)}, n)}
		if sig {
			k.Signature = bytes.Repeat([]byte{0x5a}, 64)
		}
		return k
	}
	signed, lr, ot := pk(7, 33, true), pk(9, 1570, true), pk(11, 33, false)
	return append([]Frame{
		&Error{Code: CodeMailboxFull, Detail: "mailbox of bob/2 is full"},
		&OK{},
		&Challenge{Nonce: [32]byte{1, 2, 3}, TTL: 60},
		&Proof{Address: addr.Address{User: "alice"}, Challenge: [32]byte{9}, Signature: [64]byte{7}},
		&RegistrationToken{User: "alice", Expires: time.Unix(1700000000, 0), Nonce: [16]byte{3}, Signature: [64]byte{4}},
		&Register{User: "alice", Identity: []byte("ident"), DeviceKey: []byte("dev"), DeviceCert: []byte("cert"), Token: "abc_-"},
		&Registered{Address: alice1},
		&DeviceList{User: "bob", Identity: []byte("id"), Devices: []DeviceInfo{{2, []byte("k2"), []byte("c2")}, {5, []byte("k5"), []byte("c5")}}},
		&PreKeyUpload{Signed: &signed, LastResortKEM: &lr, OneTimeEC: []PreKey{ot, pk(12, 33, false)}, OneTimeKEM: []PreKey{pk(13, 1570, true)}},
		&PreKeyStatus{OneTimeEC: 3, OneTimeKEM: 0, LowWater: 10, Max: 1000},
		&Bundle{Address: bob2, Identity: []byte("id"), DeviceKey: []byte("k"), DeviceCert: []byte("c"), Signed: signed, OneTimeEC: &ot, KEM: lr, KEMLastResort: true},
		&Welcome{Address: alice1, MaxEnvelope: DefaultMaxEnvelope, Window: 256, MaxInFlight: 64},
		&Welcome{Address: alice1, MaxEnvelope: DefaultMaxEnvelope, Window: 256, MaxInFlight: 64, QuietAcks: true},
		&Submit{To: bob2, ID: msgID, Payload: []byte("ciphertext")},
		&Submit{To: bob2, ID: msgID, Payload: []byte("ciphertext"), TTL: 86400},
		&Policy{Doc: []byte("signed policy")},
		&SubmitResult{To: bob2, ID: msgID, Code: CodeOK, Duplicate: true},
		&Deliver{Seq: 42, From: alice1, ID: msgID, Kind: KindMessage, Queued: time.UnixMilli(1700000000123), Payload: []byte("ciphertext")},
		&Ack{Seqs: []uint64{1, 2, 42}},
		&Ack{Seqs: []uint64{43}, Quiet: true},
		&AckResult{Seqs: []uint64{42}},
		&Synced{},
		&Request{ID: 7, Op: OpDevices, User: "bob"},
		&Request{ID: 8, Op: OpBundle, Target: bob2},
		&Request{ID: 9, Op: OpPreKeyUpload, Upload: &PreKeyUpload{OneTimeEC: []PreKey{ot}}},
		&Request{ID: 10, Op: OpPreKeyStatus},
		&Request{ID: 11, Op: OpRevoke, Target: bob2},
		&Response{ID: 7, Answer: &DeviceList{User: "bob", Identity: []byte("id"), Devices: []DeviceInfo{{2, []byte("k2"), []byte("c2")}}}},
		&Response{ID: 8, Answer: &Error{Code: CodeRateLimited, Detail: "slow down"}},
		&Response{ID: 11, Answer: &OK{}},
	}, append(append(append(blobSamples(), unlockSamples()...), groupSamples()...), pushSamples()...)...)
}

func TestRoundTripEveryType(t *testing.T) {
	seen := map[Type]bool{}
	for _, f := range samples() {
		b, err := Marshal(f)
		if err != nil {
			t.Fatalf("Marshal(%v): %v", f.Type(), err)
		}
		if b[0] != Version || Type(b[1]) != f.Type() {
			t.Errorf("%v: header %x", f.Type(), b[:2])
		}
		g, err := Parse(b)
		if err != nil {
			t.Fatalf("Parse(%v): %v", f.Type(), err)
		}
		if !reflect.DeepEqual(normalize(f), normalize(g)) {
			t.Errorf("%v: round trip changed the value", f.Type())
		}
		seen[f.Type()] = true
	}
	for typ := range typeNames {
		if !seen[typ] {
			t.Errorf("no sample of %v", typ)
		}
		if newFrame(typ) == nil {
			t.Errorf("newFrame(%v) = nil", typ)
		}
	}
}

// normalize makes parsed and built frames comparable with DeepEqual: times
// lose their location and monotonic reading.
func normalize(f Frame) Frame {
	switch v := f.(type) {
	case *Deliver:
		c := *v
		c.Queued = time.UnixMilli(v.Queued.UnixMilli())
		return &c
	case *RegistrationToken:
		c := *v
		c.Expires = time.Unix(v.Expires.Unix(), 0)
		return &c
	}
	return f
}

// TestKnownAnswer freezes two layouts, so an accidental change of the wire
// format fails here and not in the field.
func TestKnownAnswer(t *testing.T) {
	for _, tc := range []struct {
		f    Frame
		want string
	}{
		{&Submit{To: bob2, ID: msgID, Payload: []byte{0xaa, 0xbb}},
			"0141" + "03626f62" + "00000002" + "0102030405060708090a0b0c0d0e0f10" + "000002aabb"},
		{&Ack{Seqs: []uint64{1, 258}}, "0144" + "0002" + "0000000000000001" + "0000000000000102"},
		{&Error{Code: CodeTooLarge, Detail: "x"}, "0101" + "0004" + "0178"},
	} {
		b, err := Marshal(tc.f)
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(b); got != tc.want {
			t.Errorf("%v:\n got %s\nwant %s", tc.f.Type(), got, tc.want)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	good, _ := Marshal(&Submit{To: bob2, ID: msgID, Payload: []byte("x")})
	tooBig := append([]byte{Version, byte(TypeSubmit)}, make([]byte, MaxFrame)...)
	hugePayload, _ := Marshal(&Submit{To: bob2, ID: msgID})
	hugePayload = append(hugePayload[:len(hugePayload)-3], 0x10, 0, 1) // length 1 MiB + 1
	hugePayload = append(hugePayload, make([]byte, MaxEnvelope+1)...)
	for _, tc := range []struct {
		name string
		b    []byte
		code Code
	}{
		{"empty", nil, CodeMalformed},
		{"one byte", []byte{Version}, CodeMalformed},
		{"version 0", append([]byte{0}, good[1:]...), CodeUnsupportedVersion},
		{"version 2", append([]byte{2}, good[1:]...), CodeUnsupportedVersion},
		{"unknown type", []byte{Version, 0xee}, CodeMalformed},
		{"trailing byte", append(bytes.Clone(good), 0), CodeMalformed},
		{"truncated", good[:len(good)-1], CodeMalformed},
		{"frame too large", tooBig, CodeTooLarge},
		{"payload too large", hugePayload, CodeTooLarge},
		{"zero message ID", mustHex("0141" + "03626f62" + "00000002" + strings.Repeat("00", 16) + "000000"), CodeMalformed},
		{"device 0", mustHex("0141" + "03626f62" + "00000000" + strings.Repeat("01", 16) + "000000"), CodeMalformed},
		{"bad user", mustHex("0141" + "03426f62" + "00000002" + strings.Repeat("01", 16) + "000000"), CodeMalformed},
		{"ack of none", mustHex("0144" + "0000"), CodeMalformed},
		{"quiet ack of none", mustHex("0149" + "0000"), CodeMalformed},
		{"bool 2", mustHex("0142" + "03626f62" + "00000002" + strings.Repeat("01", 16) + "0000" + "02"), CodeMalformed},
		{"upload flags", mustHex("0130" + "04" + "0000" + "0000"), CodeMalformed},
		{"error code 0", mustHex("0101" + "0000" + "00"), CodeMalformed},
		{"error detail escape", mustHex("0101" + "0001" + "011b"), CodeMalformed},
		{"devices not ascending", mustHex("0122" + "0162" + "000101" + "0002" + "00000002000101000101" + "00000002000101000101"), CodeMalformed},
	} {
		_, err := Parse(tc.b)
		var we *Error
		if !errors.As(err, &we) || we.Code != tc.code {
			t.Errorf("%s: err = %v, want code %v", tc.name, err, tc.code)
		}
	}
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestMarshalRefusesWhatParseWould(t *testing.T) {
	many := make([]PreKey, MaxPreKeysPerUpload+1)
	for i := range many {
		many[i] = PreKey{ID: uint32(i), Public: []byte{1}}
	}
	for _, f := range []Frame{
		&Submit{To: addr.Address{User: "Bob", Device: 1}, ID: msgID},
		&Submit{To: bob2},
		&Submit{To: bob2, ID: msgID, Payload: make([]byte, MaxEnvelope+1)},
		&Registered{Address: addr.Address{User: "bob"}},
		&PreKeyUpload{OneTimeEC: many},
		&Ack{},
		&Error{Code: CodeOK},
		&Error{Code: CodeInternal, Detail: "line\nbreak"},
		&Register{User: "alice", Identity: []byte("i"), DeviceKey: []byte("k")},
		&Deliver{Seq: 1, From: alice1, ID: msgID, Kind: KindMessage, Queued: time.Unix(-1, 0)},
		// Fields too long for their length prefix.
		&SubmitResult{To: addr.Address{User: addr.UserID(strings.Repeat("a", 256)), Device: 1}, ID: msgID},
		&Error{Code: CodeInternal, Detail: strings.Repeat("x", 1<<16)},
	} {
		if b, err := Marshal(f); err == nil {
			t.Errorf("Marshal(%#v) = %x, want error", f, b)
		}
	}
}

func TestParseAs(t *testing.T) {
	b, _ := Marshal(&Registered{Address: alice1})
	if r, err := ParseAs[*Registered](b); err != nil || r.Address != alice1 {
		t.Errorf("ParseAs[*Registered] = %v, %v", r, err)
	}
	if _, err := ParseAs[*Submit](b); !errors.Is(err, CodeMalformed) {
		t.Errorf("ParseAs[*Submit](registered) err = %v, want malformed", err)
	}
	e, _ := Marshal(&Error{Code: CodeRateLimited, Detail: "slow down"})
	_, err := ParseAs[*Registered](e)
	if !errors.Is(err, CodeRateLimited) || !strings.Contains(err.Error(), "slow down") {
		t.Errorf("ParseAs on an error frame = %v, want the rate-limited error", err)
	}
}

func TestCodes(t *testing.T) {
	names := map[string]bool{}
	for c := Code(0); c < 256; c++ {
		if !c.Known() {
			if c.String() != "code-"+strconv.Itoa(int(c)) || c.HTTPStatus() != http.StatusInternalServerError {
				t.Errorf("unknown code %d: %q, %d", c, c.String(), c.HTTPStatus())
			}
			continue
		}
		n := c.String()
		if n == "" || names[n] || strings.HasPrefix(n, "code-") {
			t.Errorf("code %d: bad or duplicate name %q", c, n)
		}
		names[n] = true
		if s := c.HTTPStatus(); s < 200 || s > 599 || (c != CodeOK) != (s >= 400) {
			t.Errorf("%v: status %d", c, s)
		}
	}
	// The numbers are frozen; spot-check a few against the documentation.
	if CodeMailboxFull != 5 || CodeTokenUsed != 11 || CodeInternal != 21 || CodeDisplaced != 30 || CodeConnLimit != 31 {
		t.Error("code numbers changed")
	}
	if Code(999).Known() || Code(999).String() != "code-999" || Code(999).HTTPStatus() != http.StatusInternalServerError {
		t.Error("unknown code handling")
	}
	err := error(&Error{Code: CodeMailboxFull, Detail: "x"})
	if !errors.Is(err, CodeMailboxFull) || errors.Is(err, CodeTooLarge) {
		t.Error("errors.Is on *Error")
	}
}

func TestProofText(t *testing.T) {
	p := &Proof{Address: alice1, Challenge: [32]byte{1}, Signature: [64]byte{2}}
	h, err := p.Authorization()
	if err != nil {
		t.Fatal(err)
	}
	q, err := ParseAuthorization(h)
	if err != nil || *q != *p {
		t.Fatalf("ParseAuthorization(%q) = %v, %v", h, q, err)
	}
	for _, bad := range []string{"", "Parley", "Bearer abc", "Parley !!!", "Parley " + strings.Repeat("A", 400), "Parley AQ"} {
		if _, err := ParseAuthorization(bad); err == nil {
			t.Errorf("ParseAuthorization(%q) succeeded", bad)
		}
	}
}

func TestProofMessageBindsEverything(t *testing.T) {
	base := func() ([32]byte, addr.Address, string, string, []byte) {
		return [32]byte{1}, alice1, "POST", "/v1/prekeys", []byte("body")
	}
	c, a, m, p, b := base()
	ref, err := ProofMessage(c, a, m, p, b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(ref, []byte(ProofLabel)) {
		t.Error("proof message does not start with its label")
	}
	variants := [][]byte{}
	add := func(c [32]byte, a addr.Address, m, p string, b []byte) {
		v, err := ProofMessage(c, a, m, p, b)
		if err != nil {
			t.Fatal(err)
		}
		variants = append(variants, v)
	}
	add([32]byte{2}, a, m, p, b)
	add(c, bob2, m, p, b)
	add(c, addr.Address{User: "alice"}, m, p, b)
	add(c, a, "GET", p, b)
	add(c, a, m, "/v1/prekey", b)
	add(c, a, m, p, []byte("bodY"))
	add(c, a, "POST/", "v1/prekeys", b) // shifting bytes between fields
	for i, v := range variants {
		if bytes.Equal(v, ref) {
			t.Errorf("variant %d signs the same message", i)
		}
	}
}

func TestTokenText(t *testing.T) {
	tok := &RegistrationToken{User: "alice", Expires: time.Unix(1800000000, 0), Nonce: [16]byte{1}, Signature: [64]byte{2}}
	s, err := tok.Text()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseTokenText(" " + s + "\n")
	if err != nil || !reflect.DeepEqual(normalize(got), normalize(tok)) {
		t.Fatalf("ParseTokenText = %v, %v", got, err)
	}
	id1, _ := tok.ID()
	tok.Nonce[0] = 9
	id2, _ := tok.ID()
	if id1 == id2 {
		t.Error("token ID ignores the nonce")
	}
	for _, bad := range []string{"", "!!", strings.Repeat("A", MaxToken+1), s[:len(s)-2]} {
		if _, err := ParseTokenText(bad); !errors.Is(err, CodeTokenInvalid) {
			t.Errorf("ParseTokenText(%q) err = %v, want token-invalid", bad, err)
		}
	}
}

// FuzzParse feeds arbitrary bytes to the one frame parser behind every
// frame type (Parse dispatches on the type byte), seeded with a valid
// frame of each type. Whatever parses must re-encode to the same bytes.
func FuzzParse(f *testing.F) {
	for _, fr := range samples() {
		b, err := Marshal(fr)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := Parse(b)
		if err != nil {
			var we *Error
			if !errors.As(err, &we) || !we.Code.Known() {
				t.Fatalf("Parse error %v is not a known *Error", err)
			}
			return
		}
		out, err := Marshal(fr)
		if err != nil {
			t.Fatalf("Marshal after Parse: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("not canonical:\n in %x\nout %x", b, out)
		}
	})
}

// FuzzParseAuthorization covers the Authorization header and the token
// text, the two text decoders in front of Parse.
func FuzzParseAuthorization(f *testing.F) {
	p := &Proof{Address: alice1, Challenge: [32]byte{1}, Signature: [64]byte{2}}
	h, _ := p.Authorization()
	tok, _ := (&RegistrationToken{User: "a", Expires: time.Unix(1, 0)}).Text()
	f.Add(h)
	f.Add(tok)
	f.Add("Parley ")
	f.Fuzz(func(t *testing.T, s string) {
		if p, err := ParseAuthorization(s); err == nil {
			if _, err := p.Authorization(); err != nil {
				t.Fatalf("re-encode proof: %v", err)
			}
		}
		if tok, err := ParseTokenText(s); err == nil {
			if _, err := tok.SignedMessage(); err != nil {
				t.Fatalf("parsed token has no signed message: %v", err)
			}
		}
	})
}

func TestGroupSubmitRefuses(t *testing.T) {
	for name, f := range map[string]*GroupSubmit{
		"no recipient": {ID: msgID, Payload: []byte("x")},
		"unordered":    {ID: msgID, Payload: []byte("x"), To: []addr.Address{bob2, alice1}},
		"repeated":     {ID: msgID, Payload: []byte("x"), To: []addr.Address{bob2, bob2}},
		"no payload":   {ID: msgID, To: []addr.Address{bob2}},
		"zero ID":      {Payload: []byte("x"), To: []addr.Address{bob2}},
	} {
		if _, err := Marshal(f); err == nil {
			t.Errorf("%s: marshaled", name)
		}
	}
	many := &GroupSubmit{ID: msgID, Payload: []byte("x")}
	for i := range MaxGroupRecipients + 1 {
		many.To = append(many.To, addr.Address{User: "u", Device: addr.DeviceID(i + 1)})
	}
	if _, err := Marshal(many); err == nil {
		t.Error("more than MaxGroupRecipients marshaled")
	}
	many.To = many.To[:MaxGroupRecipients]
	if _, err := Marshal(many); err != nil {
		t.Error(err)
	}
	bad := &GroupSubmitResult{ID: msgID, Failures: []GroupFailure{{To: bob2}}}
	if _, err := Marshal(bad); err == nil {
		t.Error("a failure with code 0 marshaled")
	}
}

func TestErrorCodes(t *testing.T) {
	codes := ErrorCodes()
	seen := 0
	for c := Code(0); c < 1024; c++ {
		if c != CodeOK && c.Known() {
			if seen >= len(codes) || codes[seen] != c {
				t.Fatalf("ErrorCodes()[%d] should be %d (%s): %v", seen, c, c, codes)
			}
			seen++
		}
	}
	if seen != len(codes) {
		t.Fatalf("ErrorCodes has %d codes, %d are known", len(codes), seen)
	}
}
