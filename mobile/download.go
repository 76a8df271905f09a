package mobile

import (
	"context"

	"parley.dev/client"
)

// Download fetches message messageID's file into the vault (encrypted,
// like everything there) without writing it anywhere else, so that
// SaveFile needs no relay later (the message's FileSaved is then
// true). An interrupted download resumes where it stopped on the next
// call. Files of at most Config.AutoDownload bytes come by themselves
// (Listener.OnDelivery says "downloaded"). Errors: parley:no_attachment, parley:attachment_gone,
// parley:attachment_corrupt.
func (m *Client) Download(messageID string, timeoutMs int64) error {
	id, err := client.ParseMessageID(messageID)
	if err != nil {
		return wrap(err)
	}
	return m.do(timeoutMs, func(ctx context.Context, c *client.Client) error {
		return c.Download(ctx, id, nil)
	})
}
