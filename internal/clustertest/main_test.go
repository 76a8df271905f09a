package clustertest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"parley.dev/internal/vault"
)

// parleyd is the path of the binary TestMain builds.
var parleyd string

func TestMain(m *testing.M) {
	vault.UnsafeCheapKDFForTests() // the clients' vaults; the relays have none
	dir, err := os.MkdirTemp("", "clustertest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	parleyd, err = buildParleyd(dir)
	code := 1
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildParleyd builds cmd/parleyd into dir, cgo-free as CI builds it.
func buildParleyd(dir string) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out := filepath.Join(dir, "parleyd")
	cmd := exec.Command(goBin, "build", "-o", out, "parley.dev/cmd/parleyd")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building parleyd: %v\n%s", err, b)
	}
	return out, nil
}
