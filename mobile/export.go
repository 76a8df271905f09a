package mobile

import (
	"context"
	"errors"
	"os"

	"parley.dev/client"
)

// ExportTo writes the user's data this device holds (the account,
// contacts, conversations, groups, attachments' descriptions) as JSON
// (client.ExportFormat) to a new file at path, mode 0600; an existing
// file is not overwritten. It reads the vault only. The file holds the
// messages in the clear: share it (a data subject's copy) and delete it.
func (m *Client) ExportTo(path string) error {
	return m.do(0, func(ctx context.Context, c *client.Client) error {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return invalid("export file: " + err.Error())
		}
		err = c.Export(ctx, f)
		if err == nil {
			err = f.Sync()
		}
		if err = errors.Join(err, f.Close()); err != nil {
			os.Remove(path)
		}
		return err
	})
}
