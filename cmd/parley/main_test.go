package main

import (
	"context"
	"crypto/ed25519"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"parley.dev/internal/addr"
	"parley.dev/internal/store"
	"parley.dev/internal/vault"
	"parley.dev/server"
	"parley.dev/server/servertest"
)

func TestMain(m *testing.M) {
	// This process opens the scripts' vaults too (nosecrets).
	vault.UnsafeCheapKDFForTests()
	testscript.Main(m, map[string]func(){
		// The parley command, run by the scripts as a separate process
		// (the test binary again), with a cheap KDF: tests make hundreds
		// of vaults.
		"parley": func() {
			vault.UnsafeCheapKDFForTests()
			os.Exit(mainCode())
		},
	})
}

// TestScript runs the scenarios in testdata/*.txt, each against its own
// relay (servertest: real TLS on a loopback port). The scripts see:
//
//	$RELAY     the relay's URL
//	$RELAYCA   the relay's CA certificate file
//	$RELAYDIR  the relay's data directory
//	$RELAYMETRICS  its metrics, http://127.0.0.1:PORT/metrics
//	PARLEY_PIN  set to 480715 (scripts override it per command)
func TestScript(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:   "testdata",
		Setup: setupRelay,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"relay":       cmdRelay,
			"mint":        cmdMint,
			"nocleartext": cmdNoCleartext,
			"capture":     cmdCapture,
			"nosecrets":   cmdNoSecrets,
		},
	})
}

// harnessKey is the Env.Values key of a script's *harness.
type harnessKey struct{}

// harness is the relay of one script and what the custom commands keep.
type harness struct {
	t        testing.TB
	relay    *servertest.Relay
	token    bool               // registration by token (after "relay token")
	capacity int                // mailbox cap per device (after "relay mailboxcap N"); 0: default
	bench    bool               // rate limits raised for parley bench (after "relay bench")
	tokenKey ed25519.PrivateKey // the "host app backend" key minting tokens
	captured []store.Envelope   // envelopes saved by "relay capture"
}

func setupRelay(e *testscript.Env) error {
	t := e.T().(testing.TB)
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		return err
	}
	h := &harness{t: t, tokenKey: key}
	h.relay = servertest.Start(t, func(s *server.Server) {
		if h.token {
			s.Registration = server.RegisterToken
			s.TokenKey = h.tokenKey.Public().(ed25519.PublicKey)
		}
		if h.capacity > 0 {
			s.MailboxCap = h.capacity
		}
		if h.bench { // as "parley help bench" tells operators
			s.RegisterRate = server.Rate{Burst: 1_000_000, Per: time.Hour}
			s.ChallengeRate = server.Rate{Burst: 1_000_000, Per: time.Minute}
			s.DeviceRate = server.Rate{Burst: 1_000_000, Per: time.Minute}
		}
	})
	h.waitServing()
	e.Values[harnessKey{}] = h
	e.Setenv("RELAY", h.relay.URL)
	e.Setenv("RELAYCA", h.relay.CAFile)
	e.Setenv("RELAYDIR", h.relay.Dir)
	e.Setenv("RELAYMETRICS", h.relay.MetricsURL)
	e.Setenv("PARLEY_PIN", "480715")
	if os.Getenv("GORACE") == "" {
		// Under -race each parley process would otherwise sleep 1s at exit.
		e.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	return nil
}

func harnessOf(ts *testscript.TestScript) *harness {
	return ts.Value(harnessKey{}).(*harness)
}

// cmdRelay controls the script's relay:
//
//	relay stop            stop it (clients find it unreachable)
//	relay start           start it again (same address, same data)
//	relay restart         stop and start, as a process restart would
//	relay token           restart it requiring registration tokens
//	relay mailboxcap N    restart it holding at most N envelopes per device
//	relay bench           restart it with the rate limits parley bench needs
//	                      (and a new $RELAYMETRICS)
//	relay capture USER    save the envelopes queued for USER's devices
//	relay replay          submit the saved envelopes again
//	relay connections N   wait until N devices are connected (listening)
func cmdRelay(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: relay stop|start|restart|token|mailboxcap N|bench|capture USER|replay|connections N")
	}
	h := harnessOf(ts)
	switch args[0] {
	case "stop":
		h.relay.Stop(h.t)
	case "start", "restart":
		h.restart()
	case "token":
		h.token = true
		h.restart()
	case "mailboxcap":
		n, err := strconv.Atoi(args[len(args)-1])
		if len(args) != 2 || err != nil || n < 1 {
			ts.Fatalf("usage: relay mailboxcap N")
		}
		h.capacity = n
		h.restart()
	case "bench":
		h.bench = true
		h.restart()
		ts.Setenv("RELAYMETRICS", h.relay.MetricsURL) // a new listener

	case "capture":
		if len(args) != 2 {
			ts.Fatalf("usage: relay capture USER")
		}
		h.offline(ts, func(st store.Store) { h.captured = pending(ts, st, addr.UserID(args[1])) })
		ts.Logf("captured %d envelope(s)", len(h.captured))
	case "replay":
		h.offline(ts, func(st store.Store) { replay(ts, st, h.captured) })
	case "connections":
		if len(args) != 2 {
			ts.Fatalf("usage: relay connections N")
		}
		h.waitConnections(ts, args[1])
	default:
		ts.Fatalf("unknown relay command %q", args[0])
	}
}

// offline stops the relay, opens its store for f, and starts it again.
func (h *harness) offline(ts *testscript.TestScript, f func(store.Store)) {
	h.relay.Stop(h.t)
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(h.relay.Dir, server.DatabaseFile), store.Options{})
	ts.Check(err)
	f(st)
	ts.Check(st.Close())
	h.restart()
}

func (h *harness) restart() {
	h.relay.Restart(h.t)
	h.waitServing()
}

// waitServing returns once the relay answers. servertest.Start returns
// before its Serve goroutine runs, and stopping it before then fails the
// test ("serve: server: closed").
func (h *harness) waitServing() {
	resp, err := h.relay.Client().Get(h.relay.URL + "/healthz")
	if err != nil {
		h.t.Fatalf("relay not serving: %v", err)
	}
	resp.Body.Close()
}

func pending(ts *testscript.TestScript, st store.Store, user addr.UserID) []store.Envelope {
	ctx := context.Background()
	devs, err := st.Devices(ctx, user)
	ts.Check(err)
	var all []store.Envelope
	for _, d := range devs {
		envs, err := st.Pending(ctx, d.Address, 0, store.MaxBatch)
		ts.Check(err)
		all = append(all, envs...)
	}
	if len(all) == 0 {
		ts.Fatalf("no envelopes queued for %s", user)
	}
	return all
}

func replay(ts *testscript.TestScript, st store.Store, envs []store.Envelope) {
	if len(envs) == 0 {
		ts.Fatalf("relay replay: nothing captured")
	}
	for i := range envs {
		envs[i].Seq = 0
	}
	res, err := st.Submit(context.Background(), envs)
	ts.Check(err)
	for _, r := range res {
		if r.Err != nil || r.Duplicate {
			ts.Fatalf("replay not stored: %+v", r)
		}
	}
}

// connectionsTimeout bounds the wait for a background command to connect.
const connectionsTimeout = 20 * time.Second

// waitConnections polls the relay's metrics until its WebSocket count is
// want: the only way a script can know that a background listen is online.
func (h *harness) waitConnections(ts *testscript.TestScript, want string) {
	line := "parley_connections " + want + "\n"
	for deadline := time.Now().Add(connectionsTimeout); time.Now().Before(deadline); {
		resp, err := h.relay.Client().Get(h.relay.MetricsURL)
		ts.Check(err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		ts.Check(err)
		if strings.Contains(string(body), line) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	ts.Fatalf("the relay did not reach %s connection(s) in %v", want, connectionsTimeout)
}

// cmdMint sets $TOKEN to a registration token for USER, as the host app's
// backend would mint it.
func cmdMint(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: mint USER")
	}
	tok, err := server.NewRegistrationToken(harnessOf(ts).tokenKey, addr.UserID(args[0]), time.Now().Add(time.Hour))
	ts.Check(err)
	ts.Setenv("TOKEN", tok)
}

// cmdNoCleartext fails if any file under DIR contains any of the strings:
//
//	nocleartext DIR... -- STRING...
func cmdNoCleartext(ts *testscript.TestScript, neg bool, args []string) {
	dirs, needles, ok := cutArgs(args, "--")
	if neg || !ok || len(dirs) == 0 || len(needles) == 0 {
		ts.Fatalf("usage: nocleartext DIR... -- STRING...")
	}
	for _, dir := range dirs {
		files, found, err := searchTree(ts.MkAbs(dir), needles)
		ts.Check(err)
		if files == 0 {
			ts.Fatalf("no files under %s", dir)
		}
		for _, f := range found {
			ts.Fatalf("cleartext %q found in %s", f.needle, f.path)
		}
		ts.Logf("%s: %d files, none holds any of %d strings", dir, files, len(needles))
	}
}

func cutArgs(args []string, sep string) (before, after []string, ok bool) {
	for i, a := range args {
		if a == sep {
			return args[:i], args[i+1:], true
		}
	}
	return args, nil, false
}

// cmdCapture sets the environment variable NAME to the last command's
// standard output, trimmed, and NAME_1, NAME_2 ... to its
// whitespace-separated fields: "capture NAME".
func cmdCapture(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: capture NAME")
	}
	out := strings.TrimSpace(ts.ReadFile("stdout"))
	ts.Setenv(args[0], out)
	for i, f := range strings.Fields(out) {
		ts.Setenv(args[0]+"_"+strconv.Itoa(i+1), f)
	}
}

// cmdNoSecrets opens each HOME's vault (with $PARLEY_PIN) and fails if any
// file under DIR holds one of its secret keys, or if any file under a HOME
// holds a piece of a session state, in the clear:
//
//	nosecrets HOME... -- DIR...
func cmdNoSecrets(ts *testscript.TestScript, neg bool, args []string) {
	homes, dirs, ok := cutArgs(args, "--")
	if neg || !ok || len(homes) == 0 || len(dirs) == 0 {
		ts.Fatalf("usage: nosecrets HOME... -- DIR...")
	}
	var keys, sessions []string
	for _, home := range homes {
		k, s := vaultSecrets(ts, ts.MkAbs(home))
		keys, sessions = append(keys, k...), append(sessions, s...)
	}
	for _, dir := range dirs {
		searchNone(ts, dir, keys, "secret key")
	}
	for _, home := range homes {
		searchNone(ts, home, sessions, "session state")
	}
}

func searchNone(ts *testscript.TestScript, dir string, needles []string, what string) {
	files, found, err := searchTree(ts.MkAbs(dir), needles)
	ts.Check(err)
	if files == 0 {
		ts.Fatalf("no files under %s", dir)
	}
	if len(found) > 0 {
		ts.Fatalf("a piece of a %s found in the clear in %s", what, found[0].path)
	}
	ts.Logf("%s: %d files, no piece of %d %s pieces", dir, files, len(needles), what)
}

// The client's vault layout (client/records.go) that nosecrets reads.
const (
	nsAccount, nsPreKeys, nsSessions = "account", "prekeys", "sessions"
	// secretChunk is the size of the pieces searched for. Only pieces
	// with at least minDistinct different bytes count: random key
	// material, not a run of zeros or a small counter.
	secretChunk = 16
	minDistinct = 10
)

// vaultSecrets returns pieces of the secret keys (identity, device,
// prekeys) and of the session states in the vault in home.
func vaultSecrets(ts *testscript.TestScript, home string) (keys, sessions []string) {
	v := openVault(ts, home)
	defer v.Close()
	for _, k := range []string{"identity", "device"} {
		val, err := v.Get(nsAccount, k)
		ts.Check(err)
		keys = append(keys, chunks(val)...)
	}
	keys = append(keys, recordChunks(ts, v, nsPreKeys)...)
	sessions = recordChunks(ts, v, nsSessions)
	return keys, sessions
}

func recordChunks(ts *testscript.TestScript, v *vault.Vault, ns string) []string {
	recs, err := v.List(ns)
	ts.Check(err)
	var out []string
	for _, r := range recs {
		out = append(out, chunks(r.Value)...)
	}
	if len(out) == 0 {
		ts.Fatalf("no secret material in vault namespace %q: has client/records.go changed?", ns)
	}
	return out
}

// chunks cuts b into secretChunk-byte pieces, from its end (secret
// encodings are a short header, then key material), keeping the random
// looking ones.
func chunks(b []byte) []string {
	var out []string
	for end := len(b); end >= secretChunk; end -= secretChunk {
		c := b[end-secretChunk : end]
		if distinct(c) >= minDistinct {
			out = append(out, string(c))
		}
	}
	return out
}

func distinct(b []byte) int {
	var seen [256]bool
	n := 0
	for _, c := range b {
		if !seen[c] {
			seen[c], n = true, n+1
		}
	}
	return n
}
