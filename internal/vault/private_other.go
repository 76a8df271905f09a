//go:build !unix

package vault

// permissionBits: not here (Windows has ACLs; js and wasip1 have no shared
// file system), so makePrivate leaves modes alone.
const permissionBits = false
