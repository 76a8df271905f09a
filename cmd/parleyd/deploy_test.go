package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// readDeploy reads a file of the operator's kit at the repository's root.
func readDeploy(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../../" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// dockerInstructions joins continued lines and returns each instruction
// (keyword upper-cased) with its arguments.
func dockerInstructions(src string) [][2]string {
	src = strings.ReplaceAll(src, "\\\n", " ")
	var out [][2]string
	for _, line := range strings.Split(src, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		kw, rest, _ := strings.Cut(line, " ")
		out = append(out, [2]string{strings.ToUpper(kw), strings.TrimSpace(rest)})
	}
	return out
}

// execArgs reads an exec-form (JSON array) argument list.
func execArgs(t *testing.T, s string) []string {
	t.Helper()
	var args []string
	if err := json.Unmarshal([]byte(s), &args); err != nil {
		t.Fatalf("not an exec-form list: %s", s)
	}
	return args
}

// checkRelayFlags fails unless every --flag in args is one of parleyd's.
func checkRelayFlags(t *testing.T, where string, args []string) {
	t.Helper()
	fs := newFlagSet(&config{})
	for _, a := range args {
		name, ok := strings.CutPrefix(a, "--")
		if !ok {
			continue
		}
		name, _, _ = strings.Cut(name, "=")
		if fs.Lookup(name) == nil {
			t.Errorf("%s: parleyd has no flag --%s", where, name)
		}
	}
}

// TestDockerfile: multi-stage, a static cgo-free binary, a non-root user,
// a data volume and a health check, with flags parleyd has.
func TestDockerfile(t *testing.T) {
	ins := dockerInstructions(readDeploy(t, "Dockerfile"))
	seen := map[string][]string{}
	for _, in := range ins {
		seen[in[0]] = append(seen[in[0]], in[1])
	}
	if len(seen["FROM"]) < 2 || !strings.Contains(strings.ToUpper(seen["FROM"][0]), " AS ") {
		t.Errorf("want a multi-stage build, FROM lines: %q", seen["FROM"])
	}
	if !strings.Contains(strings.Join(seen["RUN"], "\n"), "CGO_ENABLED=0 go build") {
		t.Error("the binary is not built with CGO_ENABLED=0")
	}
	users := seen["USER"]
	if len(users) == 0 || regexp.MustCompile(`^(root|0)(:|$)`).MatchString(users[len(users)-1]) {
		t.Errorf("the image must run as a non-root user, USER %q", users)
	}
	if len(seen["VOLUME"]) == 0 || !strings.Contains(seen["VOLUME"][0], "/data") {
		t.Error("no /data volume")
	}
	if len(seen["ENTRYPOINT"]) != 1 || len(seen["HEALTHCHECK"]) != 1 {
		t.Fatal("want one ENTRYPOINT and one HEALTHCHECK")
	}
	entry := execArgs(t, seen["ENTRYPOINT"][0])
	checkRelayFlags(t, "ENTRYPOINT", entry[1:])
	if !strings.Contains(strings.Join(entry, " "), "--data /data") {
		t.Error("the relay's data is not on the volume")
	}
	_, cmd, ok := strings.Cut(seen["HEALTHCHECK"][0], "CMD ")
	if !ok {
		t.Fatal("HEALTHCHECK without CMD")
	}
	health := execArgs(t, cmd)
	if len(health) < 2 || health[1] != "health" {
		t.Fatalf("the health check does not run parleyd health: %q", health)
	}
	// The probe's flags parse: only a usage error is a failure here (no
	// relay listens, so the probe itself fails).
	err := runHealth(context.Background(), append(health[2:], "--listen", "127.0.0.1:1", "--timeout", "200ms"), os.Stdout)
	if errors.As(err, new(usageError)) {
		t.Errorf("HEALTHCHECK's arguments: %v", err)
	}
}

// TestSystemdUnit: the unit's hardening, and an ExecStart whose flags
// parleyd has; systemd-analyze verify passes where it is installed.
func TestSystemdUnit(t *testing.T) {
	unit := readDeploy(t, "deploy/parleyd.service")
	keys := map[string][]string{}
	for _, line := range strings.Split(unit, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok && !strings.HasPrefix(k, "#") {
			keys[k] = append(keys[k], v)
		}
	}
	for k, want := range map[string]string{
		"DynamicUser": "yes", "ProtectSystem": "strict", "StateDirectory": "parleyd",
		"NoNewPrivileges": "yes", "ProtectHome": "yes", "PrivateTmp": "yes",
		"PrivateDevices": "yes", "CapabilityBoundingSet": "", "SystemCallFilter": "@system-service",
		"RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6", "UMask": "0077",
	} {
		if got := keys[k]; len(got) != 1 || got[0] != want {
			t.Errorf("%s=%q, want %q", k, got, want)
		}
	}
	if r := keys["ExecReload"]; len(r) != 1 || !strings.Contains(r[0], "-HUP") {
		t.Errorf("ExecReload %q: want SIGHUP (parleyd reloads its certificate)", r)
	}
	start := strings.Fields(strings.Join(keys["ExecStart"], " "))
	if len(start) == 0 || !strings.HasSuffix(start[0], "/parleyd") {
		t.Fatalf("ExecStart %q", start)
	}
	checkRelayFlags(t, "ExecStart", start[1:])
	if !strings.Contains(strings.Join(start, " "), "--data ${STATE_DIRECTORY}") {
		t.Error("the relay's data is not in the state directory")
	}
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Log("systemd-analyze not installed: verify skipped")
		return
	}
	if _, err := os.Stat(start[0]); err != nil {
		t.Logf("%s not installed: systemd-analyze verify skipped", start[0])
		return
	}
	if out, err := exec.Command("systemd-analyze", "verify", "../../deploy/parleyd.service").CombinedOutput(); err != nil {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
