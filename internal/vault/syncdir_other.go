//go:build !unix

package vault

// syncDir is a no-op where directories cannot be fsynced (Windows, js,
// wasip1); there a rename is as durable as the platform makes it.
func syncDir(dir string) error { return nil }
