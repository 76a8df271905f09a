//go:build unix

package vault

// permissionBits: Unix permission bits decide who may read the files.
const permissionBits = true
