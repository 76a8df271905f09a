// Package grouptest builds group changes that internal/group itself would
// refuse to make, for tests of peers that misbehave: it encodes a change
// by hand, following docs/protocol.md ("Groups"), and signs it with any
// identity. Never use it outside tests.
package grouptest

import (
	"encoding/binary"
	"time"

	"parley.dev/internal/addr"
	"parley.dev/internal/group"
	"parley.dev/internal/keys"
)

// ForgeAdd returns an "add" of members to head, claimed by signer and
// signed with id, whatever their roles: the encoding of a change that an
// honest member of a group cannot make unless it is an admin.
func ForgeAdd(id *keys.Identity, signer addr.UserID, head *group.State, added []group.Member, now time.Time) []byte {
	b := []byte{group.Version, 0x02, byte(group.KindAdd)}
	gid, h := head.ID(), head.Hash()
	b = append(b, gid[:]...)
	b = binary.BigEndian.AppendUint64(b, head.Epoch()+1)
	b = append(b, h[:]...)
	b = append(append(b, byte(len(signer))), signer...)
	b = binary.BigEndian.AppendUint64(b, uint64(now.UnixMilli()))
	b = binary.BigEndian.AppendUint16(b, uint16(len(added)))
	for _, m := range added {
		b = append(append(b, byte(len(m.User))), m.User...)
		b = append(b, m.Identity.Bytes()...)
		b = append(b, byte(group.RoleMember))
	}
	return append(b, id.SignGroupChange(b)...)
}
