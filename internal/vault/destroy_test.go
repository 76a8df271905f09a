package vault

import (
	"context"
	"os"
	"testing"
)

// TestDestroy: a destroyed vault leaves no file behind, and the Vault
// refuses every later use.
func TestDestroy(t *testing.T) {
	v, dir := newVault(t, Options{})
	mustPut(t, v, "ns", "k", "secret")
	if err := v.Destroy(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the vault's directory survived: %v", err)
	}
	if Exists(dir) {
		t.Fatal("Exists reports a destroyed vault")
	}
	_, err := v.Get("ns", "k")
	wantErr(t, err, ErrClosed)
	wantErr(t, v.Destroy(context.Background()), ErrClosed)
	if err := v.Close(); err != nil {
		t.Fatalf("Close after Destroy: %v", err)
	}
}
