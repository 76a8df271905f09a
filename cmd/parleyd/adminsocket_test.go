package main

import (
	"net"
	"os"
	"path/filepath"
	"testing"
)

// TestAdminSocketRefusals: no admin socket over a file, over a live
// socket, or in a directory others may write to; a stale one is replaced.
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
	for _, path := range []string{file, live, filepath.Join(open, adminSocket)} {
		if l, err := listenAdminSocket(path); err == nil {
			l.Close()
			t.Errorf("admin socket at %s: no error", path)
		}
	}
	if fi, err := os.Stat(file); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("the file in the socket's place: %v %v", fi, err)
	}
	stale := filepath.Join(dir, "stale.sock")
	sl, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	sl.(*net.UnixListener).SetUnlinkOnClose(false)
	sl.Close()
	nl, err := listenAdminSocket(stale)
	if err != nil {
		t.Fatalf("a stale socket was not replaced: %v", err)
	}
	nl.Close()
}
