package mobile_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"parley.dev/internal/policy"
	"parley.dev/internal/push"
	"parley.dev/mobile"
	"parley.dev/server"
	"parley.dev/server/servertest"
)

// TestPushThroughTheFacade: the app's token reaches the relay, a message
// for the device while it is away wakes it through the gateway with the
// token and platform only, Wake drains it, and UnregisterPush stops the
// wake-ups. A relay without a gateway says parley:push_disabled.
func TestPushThroughTheFacade(t *testing.T) {
	secret := []byte(strings.Repeat("s", push.MinSecret))
	v, err := push.NewVerifier(secret, nil)
	if err != nil {
		t.Fatal(err)
	}
	wakes := make(chan string, 100)
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := v.Verify(r.Header, body); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		wakes <- string(body)
	}))
	defer gw.Close()
	r := servertest.Start(t, func(s *server.Server) {
		s.PushGateway, s.PushSecret, s.PushWindow = gw.URL, secret, time.Nanosecond
	})
	alice, bob := register(t, r, "alice"), register(t, r, "bob")

	unregistered := newDevice(t, r, filepath.Join(t.TempDir(), "new"))
	wantCode(t, unregistered.RegisterPush(mobile.PushFCM, "tok", 0), "not_registered")
	wantCode(t, bob.RegisterPush("gcm", "tok", 0), "invalid")
	if err := bob.RegisterPush(mobile.PushFCM, "fcm-token:1", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Send("bob", "wake up", 0); err != nil {
		t.Fatal(err)
	}
	select {
	case body := <-wakes:
		if body != `{"platform":"fcm","token":"fcm-token:1"}` {
			t.Fatalf("gateway got %s", body)
		}
	case <-time.After(waitFor):
		t.Fatal("no wake-up reached the gateway")
	}
	rec := newRecorder()
	bob.SetListener(rec)
	if res, err := bob.Wake(10_000); err != nil || res.Messages != 1 || rec.messages[0].Text != "wake up" {
		t.Fatalf("Wake = %+v, %v", res, err)
	}

	if err := bob.UnregisterPush(0); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Send("bob", "no wake", 0); err != nil {
		t.Fatal(err)
	}
	if res, err := bob.Wake(10_000); err != nil || res.Messages != 1 {
		t.Fatalf("Wake = %+v, %v", res, err)
	}
	select {
	case body := <-wakes:
		t.Fatalf("a wake-up after UnregisterPush: %s", body)
	default:
	}

	plain := startRelay(t)
	carol := register(t, plain, "carol")
	wantCode(t, carol.RegisterPush(mobile.PushAPNs, "00ff", 0), "push_disabled")
}

// TestConfigPins: Config.Pins, separated by commas or spaces, pin the
// relay: its key and a backup register; two pins of other keys are
// parley:untrusted.
func TestConfigPins(t *testing.T) {
	r := startRelay(t)
	other := func(b byte) string {
		return "sha256/" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32))
	}
	for _, c := range []struct {
		user, pins, code string
	}{
		{"pinned", r.CAPin(t) + ", " + other(0), ""},
		{"wrong", other(1) + " " + other(2), "untrusted"},
	} {
		cfg := mobile.NewConfig(filepath.Join(t.TempDir(), c.user))
		cfg.Server, cfg.CAFile, cfg.Pins = r.URL, r.CAFile, c.pins
		m, err := mobile.NewClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Create(pin); err != nil {
			t.Fatal(err)
		}
		_, err = m.Register(c.user, "", 0)
		m.Lock()
		if c.code == "" && err != nil {
			t.Fatalf("Register with %s: %v", c.pins, err)
		}
		if c.code != "" {
			wantCode(t, err, c.code)
		}
	}
}

// TestPolicyThroughTheFacade: with Config.PolicyKey the device follows
// the relay's signed policy: Policy shows it, the SDK enforces it
// (parley:policy), and a forged one is parley:policy_forged.
func TestPolicyThroughTheFacade(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	r := startRelay(t)
	r.PublishPolicy(t, priv, &policy.Policy{Version: 1, Issued: time.Unix(1_800_000_000, 0),
		Linking: true, RetentionDays: 30, MaxDevices: 3, BackupsAllow: true})
	cfg := mobile.NewConfig(filepath.Join(t.TempDir(), "alice"))
	cfg.Server, cfg.CAFile, cfg.PolicyKey = r.URL, r.CAFile, pub
	alice, err := mobile.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.Create(pin); err != nil {
		t.Fatal(err)
	}
	defer alice.Lock()
	if _, err := alice.Register("alice", "", 0); err != nil {
		t.Fatal(err)
	}
	p, err := alice.Policy()
	if err != nil || p == nil {
		t.Fatalf("Policy = %v, %v", p, err)
	}
	if p.Version != 1 || p.Attachments || !p.Linking || p.RetentionDays != 30 || p.MaxDevices != 3 ||
		!p.BackupsAllowed || p.ScreenshotsAllowed || p.IssuedMs != 1_800_000_000_000 {
		t.Fatalf("Policy = %+v", p)
	}
	register(t, r, "bob")
	file := filepath.Join(t.TempDir(), "a.txt")
	if err := os.WriteFile(file, []byte("report"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = alice.SendFile("bob", file, "text/plain", "", 0)
	wantCode(t, err, "policy")

	_, forger, _ := ed25519.GenerateKey(nil)
	r.PublishPolicy(t, forger, &policy.Policy{Version: 2, Issued: time.Unix(1_800_000_100, 0), Attachments: true})
	_, err = alice.RefreshPolicy(0)
	wantCode(t, err, "policy_forged")
	if p, err := alice.Policy(); err != nil || p.Version != 1 {
		t.Fatalf("after a forged policy: %+v, %v", p, err)
	}

	bob := register(t, r, "bob2")
	if p, err := bob.Policy(); err != nil || p != nil {
		t.Fatalf("Policy without a PolicyKey = %+v, %v", p, err)
	}
}

// TestDownloadIntoTheVault: a received file not downloaded by itself is
// fetched by Download, after which the message says FileSaved and
// SaveFile writes it out.
func TestDownloadIntoTheVault(t *testing.T) {
	r := startRelay(t)
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	file := filepath.Join(t.TempDir(), "photo.jpg")
	content := bytes.Repeat([]byte("jpeg"), 10_000)
	if err := os.WriteFile(file, content, 0o600); err != nil {
		t.Fatal(err)
	}
	sent, err := alice.SendFile("bob", file, "image/jpeg", "look", 0)
	if err != nil || sent.Status != "sent" {
		t.Fatalf("SendFile = %+v, %v", sent, err)
	}
	if _, err := bob.Wake(0); err != nil {
		t.Fatal(err)
	}
	saved := func() bool {
		p, err := bob.History("alice", "", 1)
		if err != nil || p.Size() != 1 || !p.Get(0).HasFile || p.Get(0).FileName != "photo.jpg" {
			t.Fatalf("History = %v, %v", p, err)
		}
		return p.Get(0).FileSaved
	}
	if saved() {
		t.Fatal("saved before Download (AutoDownload is 0)")
	}
	if err := bob.Download(sent.ID, 0); err != nil {
		t.Fatal(err)
	}
	if !saved() {
		t.Fatal("not saved after Download")
	}
	out := filepath.Join(t.TempDir(), "out.jpg")
	if err := bob.SaveFile(sent.ID, out, 0); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, content) {
		t.Fatalf("saved %d bytes, want %d", len(got), len(content))
	}
	wantCode(t, bob.Download("not-an-id", 0), "invalid")
	text, err := alice.Send("bob", "just text", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Wake(0); err != nil {
		t.Fatal(err)
	}
	wantCode(t, bob.Download(text.ID, 0), "no_attachment")
}
