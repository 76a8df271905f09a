package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"parley.dev/client"
	"parley.dev/internal/vault"
	"parley.dev/server"
)

// The demo's conversation. The texts are what the last step searches the
// relay's files for.
var (
	demoTexts = []string{
		"Hi Bob! Are you free for lunch on Thursday?",
		"I found that ramen place near the station.",
		"Bring the umbrella, the forecast says rain.",
	}
	demoReply = "Thursday works. Ramen it is, umbrella packed!"
)

// demoTimeout bounds the whole demo.
const demoTimeout = 2 * time.Minute

// cmdDemo runs a relay, alice and bob in-process and shows offline
// delivery, a reply, matching safety numbers and a relay that holds only
// ciphertext: "parley demo".
func cmdDemo(c *cli, args []string) error {
	fs := c.flagSet("demo")
	keep := fs.Bool("keep", false, "")
	groups := fs.Bool("group", false, "")
	if _, err := c.parse(fs, args, 0); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.ctx, demoTimeout)
	defer cancel()
	dir, err := os.MkdirTemp("", "parley-demo-")
	if err != nil {
		return err
	}
	if !*keep {
		defer os.RemoveAll(dir)
	}
	d := &demo{c: c, ctx: ctx, dir: dir, keep: *keep}
	defer d.close()
	run := d.run
	if *groups {
		run = d.runGroup
	}
	if err := run(); err != nil {
		return withHints(fmt.Errorf("demo failed at step %d: %w", d.step, err),
			"please report it: the demo should always succeed")
	}
	d.printf("\nAll %d steps succeeded.", d.step)
	d.printf("Next: the README's \"Real use\" section runs the same with a real parleyd.")
	return nil
}

// demo is one run of "parley demo".
type demo struct {
	c    *cli
	ctx  context.Context
	dir  string
	keep bool // leave dir behind
	step int

	relay      *server.Server
	relayDir   string
	relayURL   string
	caFile     string
	served     chan error
	alice, bob *client.Client
	pins       map[*client.Client][]byte // random, kept until the relay factor is on
	carol      *client.Client            // the group demo's third user
	team       client.GroupID            // the group demo's group
	teamTexts  map[string]bool           // what the group demo's members wrote
}

func (d *demo) run() error {
	d.printf("Parley demo: a relay and two users, alice and bob, all in this process.")
	if d.keep {
		d.printf("Everything lives in %s, which is kept (--keep).", d.dir)
	} else {
		d.printf("Everything lives in %s and is deleted at the end.", d.dir)
	}
	return d.steps([]demoStep{
		{"Start a relay (parleyd in dev mode, with its own local CA)", d.startRelay},
		{"Create alice's and bob's devices, each with an encrypted vault", d.createDevices},
		{"Register both on the relay (identity keys, device keys, prekeys, PIN guard)", d.register},
		{"bob is offline; alice sends him three messages", d.sendWhileOffline},
		{"bob comes online and fetches what waited for him", d.receiveOffline},
		{"bob replies and alice fetches the reply", d.reply},
		{"Compare safety numbers (what two people would read to each other)", d.compareSafety},
		{"Look at what the relay stored on disk", d.inspectRelay},
	})
}

// demoStep is one numbered step of a demo.
type demoStep struct {
	title string
	f     func() error
}

// steps runs steps in order, numbering and titling each.
func (d *demo) steps(steps []demoStep) error {
	for _, s := range steps {
		d.step++
		d.printf("\n%d. %s", d.step, s.title)
		if err := s.f(); err != nil {
			return err
		}
	}
	return nil
}

// printf prints one line of the demo's story on standard output.
func (d *demo) printf(format string, a ...any) {
	fmt.Fprintf(d.c.stdout, format+"\n", a...)
}

// sayf prints an indented detail line.
func (d *demo) sayf(format string, a ...any) {
	d.printf("   "+format, a...)
}

func (d *demo) startRelay() error {
	d.relayDir = filepath.Join(d.dir, "relay")
	conf, err := server.DevTLS(d.relayDir)
	if err != nil {
		return err
	}
	d.relay = &server.Server{DataDir: d.relayDir, TLSConfig: conf}
	if err := d.relay.Start(d.ctx); err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	d.relayURL = "https://" + l.Addr().String()
	d.caFile = filepath.Join(d.relayDir, server.DevCAFile)
	d.served = make(chan error, 1)
	go func() { d.served <- d.relay.Serve(l) }()
	d.sayf("relay listening on %s", d.relayURL)
	d.sayf("its data (SQLite) in %s; clients trust %s", d.relayDir, d.caFile)
	return nil
}

func (d *demo) createDevices() error {
	var err error
	if d.alice, err = d.newDevice("alice"); err != nil {
		return err
	}
	if d.bob, err = d.newDevice("bob"); err != nil {
		return err
	}
	d.sayf("(Argon2id at the SDK's default costs, %d MiB and %d passes: the SDK has no cheaper",
		vault.DefaultKDFMemory/1024, vault.DefaultKDFTime)
	d.sayf(" setting for demos, and this one is fast enough)")
	return nil
}

// newDevice creates a vault under a random PIN (nobody needs to type it).
func (d *demo) newDevice(name string) (*client.Client, error) {
	pin := []byte(rand.Text())
	cl := &client.Client{Home: filepath.Join(d.dir, name), Server: d.relayURL, CAFile: d.caFile}
	start := time.Now()
	if err := cl.Create(d.ctx, pin); err != nil {
		clear(pin)
		return nil, err
	}
	if d.pins == nil {
		d.pins = map[*client.Client][]byte{}
	}
	d.pins[cl] = pin
	d.sayf("%-6s vault in %s, key derived from a PIN in %v", name+":", cl.Home, time.Since(start).Round(time.Millisecond))
	return cl, nil
}

func (d *demo) register() error {
	for _, u := range []struct {
		name string
		cl   *client.Client
	}{{"alice", d.alice}, {"bob", d.bob}} {
		a, err := u.cl.Register(d.ctx, u.name, client.RegisterOptions{})
		if err != nil {
			return err
		}
		d.sayf("registered %s", a)
		if err := u.cl.SetFactors(d.ctx, d.pins[u.cl], client.FactorOptions{Relay: true}); err != nil {
			return err
		}
		clear(d.pins[u.cl])
		d.sayf("%s's vault now also needs the relay, which counts wrong PINs and destroys the key after %d in a row",
			u.name, server.DefaultUnlockMaxFailures)
	}
	return nil
}

func (d *demo) sendWhileOffline() error {
	for _, text := range demoTexts {
		if _, err := d.alice.Send(d.ctx, "bob", text); err != nil {
			return err
		}
		d.sayf("alice -> bob: %s", text)
	}
	stored, delivered, conns, err := d.settledCounts()
	if err != nil {
		return err
	}
	d.sayf("the relay's counters: %d envelopes stored, %d delivered, %d devices connected", stored, delivered, conns)
	if stored != int64(len(demoTexts)) || delivered != 0 || conns != 0 {
		return errors.New("the relay should hold three undelivered envelopes and no connection")
	}
	d.sayf("ok: the relay holds them, encrypted, until bob connects")
	return nil
}

// settledCounts is relayCounts once the relay has seen the last Send's
// connection close (it learns of a close a moment after the client
// closed), or after 5 s.
func (d *demo) settledCounts() (stored, delivered, conns int64, err error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		stored, delivered, conns, err = d.relayCounts()
		if err != nil || conns == 0 || time.Now().After(deadline) {
			return stored, delivered, conns, err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// relayCounts reads the relay's metrics: envelopes stored and delivered
// so far, and open connections.
func (d *demo) relayCounts() (stored, delivered, conns int64, err error) {
	rec := httptest.NewRecorder()
	d.relay.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	values := map[string]int64{}
	for line := range strings.Lines(rec.Body.String()) {
		name, value, ok := strings.Cut(strings.TrimSpace(line), " ")
		if n, err := strconv.ParseInt(value, 10, 64); ok && err == nil {
			values[name] = n
		}
	}
	names := []string{"parley_envelopes_queued_total", "parley_envelopes_delivered_total", "parley_connections"}
	for _, name := range names {
		if _, ok := values[name]; !ok {
			return 0, 0, 0, fmt.Errorf("relay metric %s missing", name)
		}
	}
	return values[names[0]], values[names[1]], values[names[2]], nil
}

func (d *demo) receiveOffline() error {
	got, err := d.fetch("bob", d.bob)
	if err != nil {
		return err
	}
	if !slices.Equal(texts(got), demoTexts) {
		return fmt.Errorf("bob received %q, want %q", texts(got), demoTexts)
	}
	d.sayf("ok: bob received all three, once each, in order")
	return nil
}

func (d *demo) reply() error {
	if _, err := d.bob.Send(d.ctx, "alice", demoReply); err != nil {
		return err
	}
	d.sayf("bob -> alice: %s", demoReply)
	got, err := d.fetch("alice", d.alice)
	if err != nil {
		return err
	}
	if want := []string{demoReply}; !slices.Equal(texts(got), want) {
		return fmt.Errorf("alice received %q, want %q", texts(got), want)
	}
	d.sayf("ok: alice received the reply")
	return nil
}

// fetch syncs cl, prints the messages it received and returns them.
func (d *demo) fetch(name string, cl *client.Client) ([]*client.Message, error) {
	events, err := cl.Sync(d.ctx)
	if err != nil {
		return nil, err
	}
	var msgs []*client.Message
	for _, ev := range events {
		if ev.Kind == client.EventMessage {
			m := ev.Message
			d.sayf("%s", formatMessage(name, m))
			msgs = append(msgs, m)
		}
	}
	return msgs, nil
}

func texts(msgs []*client.Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.Text)
	}
	return out
}

func (d *demo) compareSafety() error {
	a, err := d.alice.SafetyNumber(d.ctx, "bob")
	if err != nil {
		return err
	}
	b, err := d.bob.SafetyNumber(d.ctx, "alice")
	if err != nil {
		return err
	}
	d.sayf("alice's screen for bob: %s", a)
	d.sayf("bob's screen for alice: %s", b)
	if a.Digits != b.Digits {
		return errors.New("the safety numbers differ")
	}
	d.sayf("ok: they match, so no one swapped keys between them")
	return nil
}

// inspectRelay searches every file of the relay (the database with its
// write-ahead log) and of both vaults for the message texts.
func (d *demo) inspectRelay() error {
	needles := append(slices.Clone(demoTexts), demoReply)
	err := d.noCleartext(needles, []place{
		{"the relay", d.relayDir}, {"alice's vault", d.alice.Home}, {"bob's vault", d.bob.Home},
	})
	if err != nil {
		return err
	}
	d.sayf("ok: the relay only ever held ciphertext, and the vaults are encrypted too")
	d.sayf("(the relay does see who writes to whom, when and how much: docs/threat-model.md)")
	return nil
}

// place is a directory the demo searches, and what to call it.
type place struct{ name, dir string }

// noCleartext searches every file under each place for the needles and
// says what it searched; finding one is an error.
func (d *demo) noCleartext(needles []string, places []place) error {
	for _, where := range places {
		files, found, err := searchTree(where.dir, needles)
		if err != nil {
			return err
		}
		if len(found) > 0 {
			return fmt.Errorf("%q found in the clear in %s", found[0].needle, found[0].path)
		}
		d.sayf("%s: searched %s for the %d texts: none found", where.name, describeFiles(where.dir, files), len(needles))
	}
	return nil
}

// describeFiles lists the database files in dir with their sizes.
func describeFiles(dir string, n int) string {
	var parts []string
	for _, name := range []string{server.DatabaseFile, server.DatabaseFile + "-wal"} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err == nil {
			parts = append(parts, fmt.Sprintf("%s (%d KiB)", name, (fi.Size()+1023)/1024))
		}
	}
	if len(parts) == 0 {
		return fmt.Sprintf("%d files", n)
	}
	return fmt.Sprintf("%d files, %s", n, strings.Join(parts, ", "))
}

// close shuts everything down.
func (d *demo) close() {
	for _, pin := range d.pins {
		clear(pin)
	}
	for _, cl := range []*client.Client{d.alice, d.bob, d.carol} {
		if cl != nil {
			cl.Close()
		}
	}
	if d.relay != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		d.relay.Shutdown(ctx)
		if d.served != nil {
			<-d.served
		}
	}
}
