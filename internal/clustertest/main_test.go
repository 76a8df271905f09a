package clustertest

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"parley.dev/internal/vault"
)

// parleyd and parley are the paths of the binaries TestMain builds.
var parleyd, parley string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run()) // every test skips: see startCluster
	}
	vault.UnsafeCheapKDFForTests() // the clients' vaults; the relays have none
	dir, err := os.MkdirTemp("", "clustertest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	err = build(dir)
	parleyd, parley = filepath.Join(dir, "parleyd"), filepath.Join(dir, "parley")
	code := 1
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// build builds cmd/parleyd and cmd/parley into dir, cgo-free as CI
// builds them.
func build(dir string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.Command(goBin, "build", "-o", dir+string(filepath.Separator), "parley.dev/cmd/parleyd", "parley.dev/cmd/parley")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building parleyd and parley: %v\n%s", err, b)
	}
	return nil
}
