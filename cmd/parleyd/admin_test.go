package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"parley.dev/client"
	"parley.dev/internal/vault"
	"parley.dev/server"
)

// admin runs "parleyd admin WORDS... --data DIR FLAGS... ARGS..." and
// returns its output.
func admin(t *testing.T, dir string, words []string, rest ...string) (string, error) {
	t.Helper()
	args := append([]string{"admin"}, words...)
	var flags, pos []string
	for i := 0; i < len(rest); i++ {
		if strings.HasPrefix(rest[i], "--") {
			flags = append(flags, rest[i])
			if !strings.Contains(rest[i], "=") && rest[i] != "--json" && rest[i] != "--yes" {
				i++
				flags = append(flags, rest[i])
			}
			continue
		}
		pos = append(pos, rest[i])
	}
	args = append(append(append(args, "--data", dir), flags...), pos...)
	var out bytes.Buffer
	err := run(context.Background(), args, &out, io.Discard)
	return out.String(), err
}

func mustAdmin(t *testing.T, dir string, words []string, rest ...string) string {
	t.Helper()
	out, err := admin(t, dir, words, rest...)
	if err != nil {
		t.Fatalf("parleyd admin %v %v: %v\n%s", words, rest, err, out)
	}
	return out
}

// TestAdminConsole runs every command "parleyd admin --help" lists
// against a running relay over its default socket: tokens minted there
// register real devices; the listings show them with last seen and queue
// depth; revocation, suspension and deletion act; a policy is published;
// the audit log shows it all and verifies. None of the routes is served on
// the public port.
func TestAdminConsole(t *testing.T) {
	vault.UnsafeCheapKDFForTests()
	ctx := context.Background()
	tmp := t.TempDir()
	dir, keys := filepath.Join(tmp, "pd"), filepath.Join(tmp, "tok")
	if err := run(ctx, []string{"token-key", "--out", keys}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	p := startRun(t, "--dev", "--data", dir, "--listen", "127.0.0.1:0", "--registration", "token", "--token-key", keys+".pub")
	if st, err := os.Stat(filepath.Join(dir, adminSocket)); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("admin socket: %v, %v", st, err)
	}
	device := func(user string) *client.Client {
		tok := strings.TrimSpace(mustAdmin(t, dir, []string{"token"}, "--key", keys+".key", "--ttl", "10m", user))
		c := &client.Client{Home: filepath.Join(tmp, user), Server: p.url, CAFile: filepath.Join(dir, server.DevCAFile)}
		if err := c.Create(ctx, []byte("482916")); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := c.Register(ctx, user, client.RegisterOptions{Token: tok}); err != nil {
			t.Fatalf("register %s with the admin's token: %v", user, err)
		}
		return c
	}
	alice, bob := device("alice"), device("bob")
	bob.Close() // bob is away: alice's message waits for him
	if _, err := alice.Send(ctx, "bob", "waits"); err != nil {
		t.Fatal(err)
	}

	users := mustAdmin(t, dir, []string{"users"})
	if !regexp.MustCompile(`(?m)^USER +CREATED +SUSPENDED +DEVICES$`).MatchString(users) ||
		!regexp.MustCompile(`(?m)^alice +\S+ \S+ +false +1$`).MatchString(users) || !strings.Contains(users, "bob") {
		t.Errorf("users:\n%s", users)
	}
	var listed []server.AdminUser
	if err := json.Unmarshal([]byte(mustAdmin(t, dir, []string{"users"}, "--json")), &listed); err != nil || len(listed) != 2 {
		t.Errorf("users --json: %v %+v", err, listed)
	}
	if devs := mustAdmin(t, dir, []string{"devices"}, "bob"); !regexp.MustCompile(`(?m)^1 +\S+ \S+ +never +1$`).MatchString(devs) {
		t.Errorf("bob's devices (one envelope queued):\n%s", devs)
	}
	if devs := mustAdmin(t, dir, []string{"devices"}, "alice"); strings.Contains(devs, "never") {
		t.Errorf("alice's device was seen, the listing says never:\n%s", devs)
	}
	if _, err := admin(t, dir, []string{"devices"}, "nobody"); err == nil || !strings.Contains(err.Error(), "no such user") {
		t.Errorf("devices of an unknown user: %v", err)
	}

	adminPolicyStep(t, dir, tmp)
	mustAdmin(t, dir, []string{"suspend"}, "bob")
	if u := mustAdmin(t, dir, []string{"users"}); !regexp.MustCompile(`(?m)^bob +\S+ \S+ +true +1$`).MatchString(u) {
		t.Errorf("bob not shown suspended:\n%s", u)
	}
	mustAdmin(t, dir, []string{"resume"}, "bob")
	mustAdmin(t, dir, []string{"revoke"}, "alice", "1")
	if _, err := alice.Sync(ctx); !errors.Is(err, client.ErrRevoked) {
		t.Errorf("alice's Sync after the revocation: %v", err)
	}
	if _, err := admin(t, dir, []string{"delete"}, "bob"); err == nil {
		t.Error("delete without --yes went ahead")
	}
	mustAdmin(t, dir, []string{"delete"}, "--yes", "bob")

	log := mustAdmin(t, dir, []string{"audit", "show"})
	for _, kind := range []string{"token.mint", "token.use", "register", "policy.publish", "user.suspend", "user.resume", "device.revoke", "user.delete"} {
		if !strings.Contains(log, " "+kind+" ") {
			t.Errorf("audit show lacks %s:\n%s", kind, log)
		}
	}
	if v := mustAdmin(t, dir, []string{"audit", "verify"}); !strings.Contains(v, "chain intact") {
		t.Errorf("audit verify: %s", v)
	}
	adminNotPublic(t, p.url, dir)
}

// adminPolicyStep signs a policy and publishes it through the console.
func adminPolicyStep(t *testing.T, dir, tmp string) {
	t.Helper()
	ctx := context.Background()
	pk, in, signed := filepath.Join(tmp, "pk"), filepath.Join(tmp, "policy.json"), filepath.Join(tmp, "policy.signed")
	os.WriteFile(in, []byte(`{"version":1,"min_pin_digits":8,"attachments":true,"linking":true,"screenshots":false,"backups":false}`), 0o600)
	if err := run(ctx, []string{"policy-key", "--out", pk}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := run(ctx, []string{"policy", "sign", "--key", pk + ".key", "--in", in, "--out", signed}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	if out := mustAdmin(t, dir, []string{"policy", "publish"}, signed); !strings.Contains(out, "version 1 published") {
		t.Errorf("policy publish: %s", out)
	}
	if _, err := admin(t, dir, []string{"policy", "publish"}, signed); err == nil {
		t.Error("the same version published twice")
	}
}

// adminNotPublic: no admin route answers on the relay's public listener.
func adminNotPublic(t *testing.T, public, dir string) {
	t.Helper()
	c := trusting(t, filepath.Join(dir, server.DevCAFile), 0)
	for _, route := range server.AdminRoutes() {
		method, path, _ := strings.Cut(route, " ")
		path = strings.NewReplacer("{user}", "alice", "{device}", "1").Replace(path)
		req, _ := http.NewRequest(method, public+path, strings.NewReader("{}"))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("public %s %s: HTTP %d, want not found", method, path, resp.StatusCode)
		}
	}
}

// TestAdminHelpIsTrue: every command the code knows is in the help text,
// and every command in the help text is one the code knows.
func TestAdminHelpIsTrue(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"admin", "--help"}, &out, io.Discard); err != nil || out.String() != adminUsage {
		t.Fatalf("admin --help: %v", err)
	}
	var known []string
	for name := range adminCommands {
		known = append(known, name)
		if !regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(name) + `\b`).MatchString(adminUsage) {
			t.Errorf("command %q is not in the help", name)
		}
	}
	section := adminUsage[strings.Index(adminUsage, "Commands:"):strings.Index(adminUsage, "Connection")]
	listed := regexp.MustCompile(`(?m)^  ([a-z]+(?: [a-z]+)?)(?:\s|$)`).FindAllStringSubmatch(section, -1)
	sort.Strings(known)
	if len(listed) != len(known) {
		t.Errorf("the help lists %d commands, the code has %d (%v)", len(listed), len(known), known)
	}
	for _, m := range listed {
		if _, ok := adminCommands[m[1]]; !ok {
			t.Errorf("the help lists %q, which the code does not know", m[1])
		}
	}
}
