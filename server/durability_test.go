package server_test

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"parley.dev/internal/store"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"parley.dev/internal/addr"
	"parley.dev/internal/wire"
	"parley.dev/server"
	"parley.dev/server/internal/testclient"
)

// childEnv makes the test binary run as a relay (see TestMain), so that a
// test can kill a real relay process with SIGKILL.
const (
	childEnv    = "PARLEY_TEST_RELAY_DIR"
	childToken  = "PARLEY_TEST_RELAY_TOKEN_KEY" // hex Ed25519 public key: token mode
	childBanner = "relay listening on "
	memBanner   = "memory report on "
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		runChildRelay(dir)
		return
	}
	os.Exit(m.Run())
}

// runChildRelay serves a relay on DIR until killed.
func runChildRelay(dir string) {
	if os.Getenv("PARLEY_BENCH_RELAY_HEAP") != "" {
		runtime.MemProfileRate = 1 // every allocation, for an exact heap profile
	}
	conf, err := server.DevTLS(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	generous := server.Rate{Burst: 1 << 20, Per: time.Second}
	s := &server.Server{DataDir: dir, TLSConfig: conf, ChallengeRate: generous, RegisterRate: generous, BundleRate: generous, DeviceRate: generous}
	// A node of a cluster: DataDir holds only the development CA.
	s.StoreDSN, s.NATSURL, s.NATSPrefix = os.Getenv(childStoreEnv), os.Getenv(childNATSEnv), os.Getenv(childPrefixEnv)
	if k := os.Getenv(childToken); k != "" {
		s.Registration = server.RegisterToken
		s.TokenKey, _ = hex.DecodeString(k)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := s.Start(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ml, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", reportMemory)
	mux.HandleFunc("/stats", reportStats)
	mux.HandleFunc("/heap", func(w http.ResponseWriter, _ *http.Request) {
		runtime.GC()
		runtime.GC()
		pprof.Lookup("heap").WriteTo(w, 0)
	})
	mux.HandleFunc("/profile/start", startProfile)
	mux.HandleFunc("/profile/stop", func(http.ResponseWriter, *http.Request) { pprof.StopCPUProfile() })
	go http.Serve(ml, mux)
	fmt.Printf("%shttps://%s\n%shttp://%s/\n", childBanner, l.Addr(), memBanner, ml.Addr())
	s.Serve(l)
}

// reportMemory writes, after GCs that return free memory to the OS, the
// Go heap and stacks in use, the resident set size, the goroutines, the
// free slots in the heap's spans in use (part of the first figure), and
// the runtime's own memory outside the heap (span and GC metadata, and
// "other", where each socket's 512-byte poll descriptor lives).
func reportMemory(w http.ResponseWriter, _ *http.Request) {
	runtime.GC() // twice: pooled buffers survive one GC, and belong to no connection
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	runtimeSys := ms.MSpanSys + ms.MCacheSys + ms.BuckHashSys + ms.GCSys + ms.OtherSys
	fmt.Fprintf(w, "%d %d %d %d %d\n", ms.HeapInuse+ms.StackInuse, rssBytes(), runtime.NumGoroutine(),
		ms.HeapInuse-ms.HeapAlloc, runtimeSys)
}

// reportStats writes the process's CPU time (user+system, ns) and the
// heap allocations so far, without a GC.
func reportStats(w http.ResponseWriter, _ *http.Request) {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Fprintf(w, "%d %d\n", ru.Utime.Nano()+ru.Stime.Nano(), ms.Mallocs)
}

// startProfile starts a CPU profile of the relay into the file named by
// the query parameter "file".
func startProfile(w http.ResponseWriter, req *http.Request) {
	f, err := os.Create(req.URL.Query().Get("file"))
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// childRelay is a relay in another process.
type childRelay struct {
	cmd    *exec.Cmd
	url    string
	memURL string
}

func startChild(t testing.TB, dir string, env ...string) *childRelay {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), childEnv+"="+dir), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	br := bufio.NewReader(out)
	line, err := br.ReadString('\n')
	memLine, err2 := br.ReadString('\n')
	if err != nil || err2 != nil || !strings.HasPrefix(line, childBanner) || !strings.HasPrefix(memLine, memBanner) {
		t.Fatalf("child relay said %q %q (%v %v)", line, memLine, err, err2)
	}
	return &childRelay{cmd: cmd,
		url:    strings.TrimSpace(strings.TrimPrefix(line, childBanner)),
		memURL: strings.TrimSpace(strings.TrimPrefix(memLine, memBanner))}
}

func caTLS(t testing.TB, dir string) *tls.Config {
	pem, err := os.ReadFile(filepath.Join(dir, server.DevCAFile))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}
}

// TestDurabilityAcrossSIGKILL: every envelope acknowledged to its sender
// survives the relay process being killed with SIGKILL and restarted on
// the same data directory.
func TestDurabilityAcrossSIGKILL(t *testing.T) {
	const n = 300
	dir := t.TempDir()
	child := startChild(t, dir)
	conf := caTLS(t, dir)
	alice := testclient.NewDevice(t, child.url, conf, "alice", testclient.NewIdentity(t))
	bob := testclient.NewDevice(t, child.url, conf, "bob", testclient.NewIdentity(t))
	alice.Register(t, "")
	bob.Register(t, "")
	bws := bob.Dial(t)
	// Pipeline all submissions so that they are group-committed.
	for i := range n {
		if err := bws.Send(&wire.Submit{To: alice.Addr, ID: msgID(i), Payload: fmt.Appendf(nil, "durable %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	acked := map[addr.MessageID]bool{}
	for len(acked) < n {
		r := next[*wire.SubmitResult](t, bws)
		if r.Code != wire.CodeOK {
			t.Fatalf("submit: %v", r.Code)
		}
		acked[r.ID] = true
	}
	if err := child.cmd.Process.Kill(); err != nil { // SIGKILL: no shutdown at all
		t.Fatal(err)
	}
	child.cmd.Wait()

	again := startChild(t, dir)
	alice.Base = again.url
	got := drainAcking(t, alice.Dial(t))
	for _, d := range got {
		delete(acked, d.ID)
	}
	if len(acked) != 0 || len(got) != n {
		t.Fatalf("after SIGKILL: %d envelopes delivered, %d acknowledged ones lost", len(got), len(acked))
	}
}

// TestShutdownDrains: a graceful shutdown completes the submissions it
// has read, answers them, and closes the connections with "going away".
func TestShutdownDrains(t *testing.T) {
	const n = 100
	r := startRelay(t)
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	bws := bob.Dial(t)
	for i := range n {
		if err := bws.Send(&wire.Submit{To: alice.Addr, ID: msgID(i), Payload: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	stopped := make(chan struct{})
	go func() { r.Stop(t); close(stopped) }()
	ok := map[addr.MessageID]bool{}
	var closeStatus websocket.StatusCode
	for {
		f, err := bws.Next()
		if err != nil {
			closeStatus = websocket.CloseStatus(err)
			break
		}
		if res, isRes := f.(*wire.SubmitResult); isRes && res.Code == wire.CodeOK {
			ok[res.ID] = true
		}
	}
	<-stopped
	if closeStatus != websocket.StatusGoingAway && closeStatus != -1 {
		t.Errorf("closed with %v", closeStatus)
	}
	r.Restart(t)
	got := drain(t, alice.Dial(t))
	for _, d := range got {
		delete(ok, d.ID)
	}
	if len(ok) != 0 {
		t.Fatalf("%d envelopes acknowledged before the shutdown were lost", len(ok))
	}
}

func TestRevocation(t *testing.T) {
	r := startRelay(t)
	phone := register(t, r, "alice")
	laptop := sibling(t, r, phone)
	bob := register(t, r, "bob")
	lws := laptop.Dial(t)
	drain(t, lws)
	if _, err := bob.Call("DELETE", "/v1/users/alice/devices/2", nil); codeOf(err) != wire.CodeForbidden {
		t.Errorf("bob revoking alice's laptop: %v, want forbidden", err)
	}
	if _, err := phone.Call("DELETE", "/v1/users/alice/devices/9", nil); codeOf(err) != wire.CodeUnknownDevice {
		t.Errorf("revoking an unknown device: %v", err)
	}
	if _, err := phone.Call("DELETE", "/v1/users/alice/devices/2", nil); err != nil {
		t.Fatal(err)
	}
	if e := next[*wire.Error](t, lws); e.Code != wire.CodeUnauthorized {
		t.Errorf("revoked connection got %v", e)
	}
	if s := closedWith(t, lws); s != websocket.StatusPolicyViolation {
		t.Errorf("revoked connection closed with %v", s)
	}
	if _, err := laptop.Call("GET", "/v1/prekeys", nil); codeOf(err) != wire.CodeUnauthorized {
		t.Errorf("revoked device request: %v", err)
	}
	if res := submit(t, bob.Dial(t), laptop.Addr, msgID(1), []byte("x")); res.Code != wire.CodeUnknownDevice {
		t.Errorf("submit to a revoked device: %v", res.Code)
	}
	// A device may revoke itself.
	if _, err := phone.Call("DELETE", "/v1/users/alice/devices/1", nil); err != nil {
		t.Errorf("self-revocation: %v", err)
	}
}

// TestRegistrationAtomicAcrossSIGKILL: token registrations in flight when
// the relay process is killed are each either complete (token used, user
// and device stored) or absent (token unused, no user): a crash never
// burns a token without its device. Registrations answered before the
// kill are all complete.
func TestRegistrationAtomicAcrossSIGKILL(t *testing.T) {
	const n = 40
	dir := t.TempDir()
	pub, key, _ := ed25519.GenerateKey(nil)
	child := startChild(t, dir, childToken+"="+hex.EncodeToString(pub))
	conf := caTLS(t, dir)
	tokens := make([]string, n)
	answered := make([]bool, n)
	var done atomic.Int32
	someDone := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		user := addr.UserID(fmt.Sprint("user", i))
		tokens[i] = mint(t, key, user, time.Now().Add(time.Hour))
		d := testclient.NewDevice(t, child.url, conf, user, testclient.NewIdentity(t))
		wg.Go(func() {
			if resp, err := d.RegisterRaw(tokens[i]); err == nil && resp.Code() == wire.CodeOK {
				answered[i] = true
				if done.Add(1) == n/4 {
					close(someDone)
				}
			}
		})
	}
	select { // kill in the middle of the registrations
	case <-someDone:
	case <-time.After(testclient.Timeout):
		t.Fatal("registrations too slow")
	}
	if err := child.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	child.cmd.Wait()
	wg.Wait()

	st, err := store.Open(context.Background(), filepath.Join(dir, server.DatabaseFile), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	complete := 0
	for i, tok := range tokens {
		parsed, err := wire.ParseTokenText(tok)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := parsed.ID()
		used := errors.Is(st.UseToken(context.Background(), id, parsed.Expires), store.ErrTokenUsed)
		devs, err := st.Devices(context.Background(), parsed.User)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case used != (len(devs) == 1):
			t.Errorf("%s: token used %v, %d devices: torn by the crash", parsed.User, used, len(devs))
		case answered[i] && !used:
			t.Errorf("%s: registered before the kill, lost after it", parsed.User)
		}
		if used {
			complete++
		}
	}
	t.Logf("%d of %d registrations complete at the kill, %d answered", complete, n, count(answered))
}

func count(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}
