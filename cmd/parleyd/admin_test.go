package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"parley.dev/client"
	"parley.dev/internal/wire"
	"parley.dev/server"
)

// adminHelpCommands is every command "parleyd admin --help" lists.
func adminHelpCommands(t *testing.T) map[string]bool {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"admin", "--help"}, &out, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("admin --help: %v", err)
	}
	_, cmds, _ := strings.Cut(out.String(), "Commands:\n")
	listed := map[string]bool{}
	for _, line := range strings.Split(cmds, "\n") {
		if f := strings.Fields(line); strings.HasPrefix(line, "  ") && !strings.HasPrefix(line, "   ") && len(f) > 0 {
			listed[f[0]] = true
		}
	}
	if len(listed) != len(adminCommands) {
		t.Errorf("admin --help lists %d commands, the code has %d", len(listed), len(adminCommands))
	}
	return listed
}

// TestAdminCommands runs every command "parleyd admin --help" lists
// against a running relay over its admin socket.
func TestAdminCommands(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	data, key := filepath.Join(dir, "data"), filepath.Join(dir, "tk")
	if err := run(ctx, []string{"token-key", "--out", key}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	p := startRun(t, "--dev", "--data", data, "--listen", "127.0.0.1:0", "--registration", "token",
		"--token-key", key+".pub", "--admin-token-key", key+".key")
	sock := filepath.Join(data, adminSocketName)
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin socket: %v %v", fi, err)
	}
	ran := map[string]bool{}
	admin := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := run(ctx, append([]string{"admin", "--socket", sock}, args...), &out, io.Discard); err != nil {
			t.Fatalf("admin %q: %v", args, err)
		}
		ran[args[0]] = true
		return out.String()
	}
	tok := strings.TrimSpace(admin("token", "--ttl", "10m", "alice"))
	c := &client.Client{Home: filepath.Join(dir, "alice"), Server: p.url, CAFile: filepath.Join(data, server.DevCAFile)}
	defer c.Close()
	if err := c.Create(ctx, []byte("480715")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Register(ctx, "alice", client.RegisterOptions{Token: tok}); err != nil {
		t.Fatalf("register with the admin's token: %v", err)
	}
	if out := admin("users"); !strings.Contains(out, "alice") || !strings.HasPrefix(out, "USER") {
		t.Errorf("users:\n%s", out)
	}
	var users []map[string]any
	if err := json.Unmarshal([]byte(admin("--json", "users")), &users); err != nil || len(users) != 1 || users[0]["id"] != "alice" {
		t.Errorf("users --json: %v %v", users, err)
	}
	if out := admin("devices", "alice", "--json"); !strings.HasPrefix(out, "[{") {
		t.Errorf("devices --json: %s", out)
	}
	if out := admin("devices", "alice"); !strings.Contains(out, "LAST SEEN") || !strings.Contains(out, "\n1 ") {
		t.Errorf("devices:\n%s", out)
	}
	admin("suspend", "alice")
	admin("resume", "alice")
	if out := admin("policy", "publish", signedPolicy(t, dir)); !strings.Contains(out, "version 3") {
		t.Errorf("policy publish: %s", out)
	}
	if code, _ := get(t, trusting(t, filepath.Join(data, server.DevCAFile), 0), p.url+wire.PathPolicy); code != 200 {
		t.Errorf("the relay does not serve the policy the admin published: %d", code)
	}
	if out := admin("audit", "show", "--limit", "50"); !strings.Contains(out, "token.mint") ||
		!strings.Contains(out, "user.suspend") || !strings.Contains(out, "policy.publish") || strings.Contains(out, tok) {
		t.Errorf("audit show:\n%s", out)
	}
	if out := admin("audit", "verify"); !strings.Contains(out, "verified") {
		t.Errorf("audit verify: %s", out)
	}
	admin("revoke", "alice", "1")
	if err := run(ctx, []string{"admin", "--socket", sock, "delete", "alice"}, io.Discard, io.Discard); !errors.As(err, new(usageError)) {
		t.Errorf("delete without --yes: %v", err)
	}
	admin("delete", "alice", "--yes")
	if out := admin("users"); strings.Contains(out, "alice") {
		t.Errorf("deleted user still listed:\n%s", out)
	}
	for cmd := range adminHelpCommands(t) {
		if !ran[cmd] {
			t.Errorf("admin --help lists %q, which this test did not run", cmd)
		}
	}
}

// signedPolicy signs a version 3 policy with a fresh key.
func signedPolicy(t *testing.T, dir string) string {
	t.Helper()
	ctx := context.Background()
	prefix, in, out := filepath.Join(dir, "pk"), filepath.Join(dir, "policy.json"), filepath.Join(dir, "policy.signed")
	os.WriteFile(in, []byte(`{"version":3,"min_pin_digits":8,"default_timer_seconds":86400,
		"max_timer_seconds":86400,"attachments":true,"linking":false,"screenshots":false,"backups":false}`), 0o600)
	for _, args := range [][]string{{"policy-key", "--out", prefix}, {"policy", "sign", "--key", prefix + ".key", "--in", in, "--out", out}} {
		if err := run(ctx, args, io.Discard, io.Discard); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestAdminListen: the socket replaces a stale one, goes at shutdown, and
// is absent with "off"; a TCP console must be on loopback with a client CA.
func TestAdminListen(t *testing.T) {
	data := t.TempDir()
	sock := filepath.Join(data, adminSocketName)
	stale, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()
	p := startRun(t, "--dev", "--data", data, "--listen", "127.0.0.1:0")
	if err := run(context.Background(), []string{"admin", "--data", data, "users"}, io.Discard, io.Discard); err != nil {
		t.Fatalf("admin over a socket that replaced a stale one: %v", err)
	}
	p.stop(t)
	if _, err := os.Lstat(sock); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("admin socket after shutdown: %v", err)
	}
	startRun(t, "--dev", "--data", data, "--listen", "127.0.0.1:0", "--admin-listen", "off")
	if _, err := os.Lstat(sock); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("admin socket with --admin-listen off: %v", err)
	}
	err = run(context.Background(), []string{"admin", "--data", t.TempDir(), "users"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "is the relay running") {
		t.Errorf("admin with no relay: %v", err)
	}
	for _, args := range [][]string{
		{"--admin-listen", "tcp://0.0.0.0:9000", "--admin-client-ca", "ca.pem"},
		{"--admin-listen", "tcp://example.com:9000", "--admin-client-ca", "ca.pem"},
		{"--admin-listen", "tcp://127.0.0.1:9000"},
		{"--admin-client-ca", "ca.pem"},
	} {
		_, err := parseFlags(append([]string{"--dev"}, args...), io.Discard, io.Discard)
		if !errors.As(err, new(usageError)) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
}

// TestAdminSocketRefusals: no socket over a file, over a live socket, or
// in a directory others may write to.
func TestAdminSocketRefusals(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o600)
	live := filepath.Join(dir, "live.sock")
	l, err := net.Listen("unix", live)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	open := filepath.Join(dir, "open")
	os.Mkdir(open, 0o700)
	os.Chmod(open, 0o777)
	for _, path := range []string{file, live, filepath.Join(open, adminSocketName)} {
		if l, err := adminSocket(path); err == nil {
			l.Close()
			t.Errorf("admin socket at %s: no error", path)
		}
	}
	if fi, err := os.Stat(file); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("the file in the socket's place: %v %v", fi, err)
	}
}
