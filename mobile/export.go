package mobile

import (
	"context"

	"parley.dev/client"
)

// ExportTo writes the user's data this device holds (the account,
// contacts, conversations, groups, attachments' descriptions) as JSON
// (client.ExportFormat) to a new file at path, mode 0600; an existing
// file is not overwritten (parley:invalid). It reads the vault only. The
// file holds the messages in the clear: share it (a data subject's copy)
// and delete it.
func (m *Client) ExportTo(path string) error {
	return m.do(0, func(ctx context.Context, c *client.Client) error {
		return c.ExportFile(ctx, path)
	})
}
