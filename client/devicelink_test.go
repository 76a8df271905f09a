package client

import (
	"testing"

	"parley.dev/internal/addr"
)

// FuzzLinkCodes feeds arbitrary text to the parsers of link codes, which
// users paste or scan: errors, never panics.
func FuzzLinkCodes(f *testing.F) {
	f.Add("parley-link-request-1:AUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE")
	f.Add("parley-link-1:AQ")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		parseLinkRequest(s)
		decodeLinkCode(s, linkApprovalPrefix)
		parseLinkPayload([]byte(s), addr.UserID("bob"))
	})
}
