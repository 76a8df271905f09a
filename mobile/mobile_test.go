package mobile_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"parley.dev/internal/vault"
	"parley.dev/mobile"
	"parley.dev/server"
	"parley.dev/server/servertest"
)

func TestMain(m *testing.M) {
	vault.UnsafeCheapKDFForTests()
	os.Exit(m.Run())
}

var pin = []byte("482916")

// waitFor bounds every wait for a callback.
const waitFor = 20 * time.Second

func startRelay(t testing.TB) *servertest.Relay {
	t.Helper()
	return servertest.Start(t, func(s *server.Server) {
		s.ChallengeRate = server.Rate{Burst: 100_000, Per: time.Minute}
		s.RegisterRate = server.Rate{Burst: 10_000, Per: time.Minute}
		s.BundleRate = server.Rate{Burst: 10_000, Per: time.Minute}
		s.DeviceRate = server.Rate{Burst: 10_000, Per: time.Minute}
	})
}

// newDevice returns an unlocked, unregistered Client with a fresh vault.
func newDevice(t testing.TB, r *servertest.Relay, home string) *mobile.Client {
	t.Helper()
	cfg := mobile.NewConfig(home)
	cfg.Server, cfg.CAFile = r.URL, r.CAFile
	m, err := mobile.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Create(pin); err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() { m.Lock() })
	return m
}

// register returns a Client registered as user.
func register(t testing.TB, r *servertest.Relay, user string) *mobile.Client {
	t.Helper()
	m := newDevice(t, r, filepath.Join(t.TempDir(), user))
	if _, err := m.Register(user, "", 0); err != nil {
		t.Fatalf("Register(%s): %v", user, err)
	}
	return m
}

// recorder is a Listener that hands every call to the test as a line.
type recorder struct {
	mu       sync.Mutex
	messages []*mobile.Message
	calls    chan string
}

func newRecorder() *recorder { return &recorder{calls: make(chan string, 10_000)} }

func (r *recorder) OnMessage(m *mobile.Message) {
	r.mu.Lock()
	r.messages = append(r.messages, m)
	r.mu.Unlock()
	r.calls <- "message " + m.Contact + ": " + m.Text
}
func (r *recorder) OnDelivery(id, status string) { r.calls <- "delivery " + status }
func (r *recorder) OnIdentityChanged(user string, held bool) {
	r.calls <- fmt.Sprintf("identity %s held=%v", user, held)
}
func (r *recorder) OnGroupChanged(c *mobile.GroupChange) { r.calls <- "group " + c.Kind }
func (r *recorder) OnTimer(user string, ms int64, out bool) {
	r.calls <- fmt.Sprintf("timer %s %d outgoing=%v", user, ms, out)
}
func (r *recorder) OnError(msg, id string)    { r.calls <- "error " + msg }
func (r *recorder) OnConnection(state string) { r.calls <- "connection " + state }

// await returns once a call starting with prefix arrives, failing the
// test after waitFor; the calls before it are returned.
func (r *recorder) await(t *testing.T, prefix string) []string {
	t.Helper()
	var seen []string
	deadline := time.After(waitFor)
	for {
		select {
		case c := <-r.calls:
			seen = append(seen, c)
			if strings.HasPrefix(c, prefix) {
				return seen
			}
		case <-deadline:
			t.Fatalf("no %q call; saw %q", prefix, seen)
		}
	}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if err == nil || !strings.HasPrefix(err.Error(), "parley:"+code+":") {
		t.Fatalf("error = %v, want one starting parley:%s:", err, code)
	}
}

func TestLiveConnectionDeliversToListener(t *testing.T) {
	r := startRelay(t)
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	rec := newRecorder()
	bob.SetListener(rec)
	if err := bob.Start(); err != nil {
		t.Fatal(err)
	}
	rec.await(t, "connection online")

	sent, err := alice.Send("bob", "hello from the facade", 0)
	if err != nil || sent.Status != "sent" || len(sent.ID) != 32 {
		t.Fatalf("Send = %+v, %v", sent, err)
	}
	rec.await(t, "message alice: hello from the facade")

	bob.Stop()
	if got := rec.await(t, "connection "); got[len(got)-1] != "connection stopped" {
		t.Fatalf("after Stop: %q", got)
	}
	if res, err := bob.Wake(0); err != nil || res.Live || res.Messages != 0 {
		t.Fatalf("Wake after Stop = %+v, %v (nothing waits)", res, err)
	}
}

func TestWakeDrainsWhatWaits(t *testing.T) {
	r := startRelay(t)
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	for i := range 3 {
		if _, err := alice.Send("bob", fmt.Sprint("m", i), 0); err != nil {
			t.Fatal(err)
		}
	}
	rec := newRecorder()
	bob.SetListener(rec)
	res, err := bob.Wake(10_000)
	if err != nil || res.Messages != 3 || res.Live {
		t.Fatalf("Wake = %+v, %v; want 3 messages", res, err)
	}
	if len(rec.messages) != 3 || rec.messages[0].Text != "m0" || rec.messages[2].Text != "m2" {
		t.Fatalf("listener got %d messages", len(rec.messages))
	}
	if res, err := bob.Wake(10_000); err != nil || res.Messages != 0 {
		t.Fatalf("second Wake = %+v, %v; want nothing (acknowledged)", res, err)
	}

	if err := bob.Start(); err != nil {
		t.Fatal(err)
	}
	rec.await(t, "connection online")
	if res, err := bob.Wake(10_000); err != nil || !res.Live {
		t.Fatalf("Wake while live = %+v, %v; want Live", res, err)
	}
}

func TestPINErrorsCarryCodes(t *testing.T) {
	r := startRelay(t)
	home := filepath.Join(t.TempDir(), "v")
	m := newDevice(t, r, home)
	if err := m.Lock(); err != nil {
		t.Fatal(err)
	}
	if m.IsUnlocked() {
		t.Fatal("unlocked after Lock")
	}
	_, err := m.Contacts()
	wantCode(t, err, "locked")
	wantCode(t, m.Unlock([]byte("000000"), 0), "wrong_pin")
	if err := m.Unlock(pin, 0); err != nil || !m.IsUnlocked() {
		t.Fatalf("Unlock with the right PIN: %v", err)
	}

	again, err := mobile.NewClient(mobile.NewConfig(home))
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, again.Create(pin), "exists")
	empty, _ := mobile.NewClient(mobile.NewConfig(t.TempDir()))
	wantCode(t, empty.Create([]byte("123456")), "weak_pin")
	wantCode(t, mobile.CheckPIN([]byte("111111")), "weak_pin")
	if _, err := mobile.NewClient(mobile.NewConfig("")); err == nil {
		t.Fatal("NewClient without Home succeeded")
	}
}

// hmacKeystore stands for the Android Keystore or Secure Enclave.
type hmacKeystore struct{ key byte }

func (k hmacKeystore) Secret(in []byte) ([]byte, error) {
	if k.key == 0 {
		return nil, fmt.Errorf("user canceled the biometric prompt")
	}
	out := make([]byte, 32)
	for i := range out {
		out[i] = in[i%len(in)] ^ k.key
	}
	return out, nil
}

func TestKeystoreCallbackLocksTheVault(t *testing.T) {
	home := filepath.Join(t.TempDir(), "v")
	m, _ := mobile.NewClient(mobile.NewConfig(home))
	m.SetKeystore("", hmacKeystore{key: 7})
	if err := m.Create(pin); err != nil {
		t.Fatal(err)
	}
	m.Lock()

	m.SetKeystore("", nil)
	wantCode(t, m.Unlock(pin, 0), "factors")
	m.SetKeystore("", hmacKeystore{key: 0})
	wantCode(t, m.Unlock(pin, 0), "keystore")
	m.SetKeystore("", hmacKeystore{key: 9})
	wantCode(t, m.Unlock(pin, 0), "wrong_pin") // another key is as good as a wrong PIN
	m.SetKeystore("", hmacKeystore{key: 7})
	if err := m.Unlock(pin, 0); err != nil {
		t.Fatalf("Unlock with the keystore: %v", err)
	}
	m.Lock()
}

func TestHistoryPages(t *testing.T) {
	r := startRelay(t)
	alice := register(t, r, "alice")
	register(t, r, "bob")
	for i := range 5 {
		if _, err := alice.Send("bob", fmt.Sprint("m", i), 0); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	before := ""
	for pages := 0; ; pages++ {
		p, err := alice.History("bob", before, 2)
		if err != nil {
			t.Fatal(err)
		}
		var texts []string
		for i := range p.Size() {
			texts = append(texts, p.Get(i).Text)
		}
		got = append([]string{strings.Join(texts, ",")}, got...)
		if before = p.Next; before == "" {
			break
		}
	}
	if want := "m0|m1,m2|m3,m4"; strings.Join(got, "|") != want {
		t.Fatalf("pages = %q, want %q", strings.Join(got, "|"), want)
	}
	if _, err := alice.History("bob", strings.Repeat("ab", 16), 2); err == nil {
		t.Fatal("an unknown cursor was accepted")
	}
	_, err := alice.History("bob", "", 0)
	wantCode(t, err, "invalid")
}

func TestSafetyNumbersAndVerification(t *testing.T) {
	r := startRelay(t)
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	if _, err := alice.Send("bob", "hi", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Wake(0); err != nil {
		t.Fatal(err)
	}
	na, err := alice.SafetyNumber("bob")
	if err != nil {
		t.Fatal(err)
	}
	nb, err := bob.SafetyNumber("alice")
	if err != nil {
		t.Fatal(err)
	}
	if na.Digits != nb.Digits || len(na.Digits) != 60 || len(na.QR) == 0 {
		t.Fatalf("safety numbers differ: %q, %q", na.Digits, nb.Digits)
	}
	wantCode(t, alice.Verify("bob", strings.Repeat("1", 60), 0), "safety_mismatch")
	wantCode(t, alice.VerifyQR("bob", na.QR, 0), "safety_mismatch") // its own screen
	if err := alice.VerifyQR("bob", nb.QR, 0); err != nil {
		t.Fatal(err)
	}
	if err := bob.Verify("alice", na.Grouped, 0); err != nil {
		t.Fatal(err)
	}
	cs, err := alice.Contacts()
	if err != nil || cs.Size() != 1 || !cs.Get(0).Verified || cs.Get(0).User != "bob" {
		t.Fatalf("Contacts = %v, %v", cs, err)
	}
	_, err = alice.SafetyNumber("carol")
	wantCode(t, err, "unknown_contact")
}

func TestLinkedDeviceAndDevices(t *testing.T) {
	r := startRelay(t)
	alice := register(t, r, "alice")
	second, addr := link(t, r, alice, "alice")
	ds, err := alice.Devices(0)
	if err != nil || ds.Size() != 2 {
		t.Fatalf("Devices = %v, %v", ds, err)
	}
	var this, other *mobile.Device
	for i := range ds.Size() {
		if d := ds.Get(i); d.This {
			this = d
		} else {
			other = d
		}
	}
	if this == nil || other == nil || addr != fmt.Sprintf("alice/%d", other.ID) {
		t.Fatalf("devices: this %+v, other %+v, linked %s", this, other, addr)
	}
	if err := alice.RevokeDevice(other.ID, 0); err != nil {
		t.Fatal(err)
	}
	_, err = second.Wake(0)
	wantCode(t, err, "revoked")
}

func TestGroupThroughTheFacade(t *testing.T) {
	r := startRelay(t)
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	members := mobile.NewStringList()
	members.Add("bob")
	id, err := alice.CreateGroup("team", members, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SendGroup(id, "to the team", 0); err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	bob.SetListener(rec)
	if _, err := bob.Wake(0); err != nil {
		t.Fatal(err)
	}
	rec.await(t, "group create")
	rec.await(t, "message alice: to the team")
	if m := rec.messages[0]; m.GroupID != id || m.GroupName != "team" {
		t.Fatalf("group message %+v", m)
	}
	gs, err := bob.Groups()
	if err != nil || gs.Size() != 1 || gs.Get(0).Members.Size() != 2 || gs.Get(0).Admin {
		t.Fatalf("Groups = %v, %v", gs, err)
	}
	p, err := bob.GroupHistory(id, "", 10)
	if err != nil || p.Size() != 1 || p.Get(0).Text != "to the team" {
		t.Fatalf("GroupHistory = %v, %v", p, err)
	}
	wantCode(t, bob.RenameGroup(id, "mine", 0), "not_group_admin")
}

// blackhole accepts connections and never answers, like a relay behind a
// dead network.
func blackhole(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	return "https://" + l.Addr().String()
}

func TestTimeoutAndCancel(t *testing.T) {
	r := startRelay(t)
	bob := register(t, r, "bob")
	home, _ := mustAddress(t, bob)
	bob.Lock()

	cfg := mobile.NewConfig(home)
	cfg.Server = blackhole(t)
	m, _ := mobile.NewClient(cfg)
	if err := m.Unlock(pin, 0); err != nil {
		t.Fatal(err)
	}
	defer m.Lock()
	_, err := m.Wake(200)
	wantCode(t, err, "timeout")

	done := make(chan error, 1)
	go func() {
		_, err := m.Wake(60_000)
		done <- err
	}()
	for {
		m.Cancel()
		select {
		case err := <-done:
			wantCode(t, err, "canceled")
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func mustAddress(t *testing.T, m *mobile.Client) (home, addr string) {
	t.Helper()
	addr, err := m.Address()
	if err != nil {
		t.Fatal(err)
	}
	return mobile.Home(m), addr
}

func TestTimerThroughTheFacade(t *testing.T) {
	r := startRelay(t)
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	rec := newRecorder()
	bob.SetListener(rec)
	if err := bob.Start(); err != nil {
		t.Fatal(err)
	}
	rec.await(t, "connection online")
	const hour = int64(time.Hour / time.Millisecond)
	if err := alice.SetTimer("bob", hour, 0); err != nil {
		t.Fatalf("SetTimer: %v", err)
	}
	rec.await(t, fmt.Sprintf("timer alice %d outgoing=false", hour))
	if ms, err := bob.Timer("alice"); err != nil || ms != hour {
		t.Fatalf("bob's Timer = %d, %v", ms, err)
	}
	if _, err := alice.Send("bob", "for an hour", 0); err != nil {
		t.Fatal(err)
	}
	rec.await(t, "message alice: for an hour")
	rec.mu.Lock()
	m := rec.messages[len(rec.messages)-1]
	rec.mu.Unlock()
	if m.ExpiresMs != m.SentMs+hour {
		t.Fatalf("ExpiresMs = %d, want SentMs + an hour (%d)", m.ExpiresMs, m.SentMs+hour)
	}
	wantCode(t, alice.SetTimer("bob", 1500, 0), "invalid")
}

// TestDeleteAccountThroughTheFacade: deleting the account locks the
// client, removes its vault, and the user's other device is refused.
func TestDeleteAccountThroughTheFacade(t *testing.T) {
	r := startRelay(t)
	home := filepath.Join(t.TempDir(), "alice")
	alice := newDevice(t, r, home)
	if _, err := alice.Register("alice", "", 0); err != nil {
		t.Fatal(err)
	}
	second, _ := link(t, r, alice, "alice")
	if err := alice.DeleteAccount(0); err != nil {
		t.Fatal(err)
	}
	if alice.IsUnlocked() {
		t.Error("the client is still unlocked")
	}
	if _, err := os.Stat(home); !os.IsNotExist(err) {
		t.Errorf("the vault survived: %v", err)
	}
	_, err := second.Wake(0)
	wantCode(t, err, "revoked")
}

// link returns a second device of user, linked by m, and its address.
func link(t *testing.T, r *servertest.Relay, m *mobile.Client, user string) (*mobile.Client, string) {
	t.Helper()
	second := newDevice(t, r, filepath.Join(t.TempDir(), user+"2"))
	req, err := second.LinkRequest(0)
	if err != nil {
		t.Fatal(err)
	}
	approval, err := m.ApproveLink(req, 0)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := second.RegisterLinked(user, approval, 0)
	if err != nil || !strings.HasPrefix(addr, user+"/") {
		t.Fatalf("RegisterLinked = %q, %v", addr, err)
	}
	return second, addr
}

// TestExportTo: the export reaches a new 0600 file with the messages, and
// an existing file is not overwritten.
func TestExportTo(t *testing.T) {
	r := startRelay(t)
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	if _, err := alice.Send("bob", "exported text", 0); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "export.json")
	if err := alice.ExportTo(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(b), "exported text") {
		t.Fatalf("export file: %v\n%s", err, b)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("export file mode %v, want 0600", st.Mode().Perm())
	}
	wantCode(t, bob.ExportTo(path), "invalid")
}

// TestSendMany: a burst through the facade is stored and delivered in
// order, each outcome at its text's index; an invalid burst stores
// nothing.
func TestSendMany(t *testing.T) {
	r := startRelay(t)
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	texts := mobile.NewStringList()
	for i := range 5 {
		texts.Add(fmt.Sprint("burst ", i))
	}
	sent, err := alice.SendMany("bob", texts, 0)
	if err != nil || sent.Size() != 5 {
		t.Fatalf("SendMany = %v, %v", sent, err)
	}
	for i := range sent.Size() {
		if s := sent.Get(i); s.Status != "sent" || len(s.ID) != 32 || s.Reason != "" {
			t.Fatalf("outcome %d: %+v", i, s)
		}
	}
	if sent.Get(5) != nil || sent.Get(-1) != nil {
		t.Fatal("Get out of range is not nil")
	}
	rec := newRecorder()
	bob.SetListener(rec)
	if res, err := bob.Wake(10_000); err != nil || res.Messages != 5 {
		t.Fatalf("Wake = %+v, %v; want 5 messages", res, err)
	}
	for i, m := range rec.messages {
		if m.Text != fmt.Sprint("burst ", i) || m.ID != sent.Get(int32(i)).ID {
			t.Fatalf("message %d: %q %s, sent %s", i, m.Text, m.ID, sent.Get(int32(i)).ID)
		}
	}

	bad := mobile.NewStringList()
	bad.Add("fine")
	bad.Add("")
	_, err = alice.SendMany("bob", bad, 0)
	wantCode(t, err, "invalid")
	_, err = alice.SendMany("bob", mobile.NewStringList(), 0)
	wantCode(t, err, "invalid")
	if page, err := alice.History("bob", "", 100); err != nil || page.Size() != 5 {
		t.Fatalf("alice's history after refused bursts: %v messages, %v", page.Size(), err)
	}
}
