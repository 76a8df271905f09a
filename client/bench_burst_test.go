package client_test

import (
	"context"
	"fmt"

	"parley.dev/client"
)

// sendBurst sends texts to user as one burst and fails unless every one
// was sent.
func sendBurst(ctx context.Context, c *client.Client, to string, texts []string) error {
	res, err := c.SendMany(ctx, to, texts)
	if err != nil {
		return err
	}
	for i, r := range res {
		if r.Err != nil {
			return fmt.Errorf("message %d: %w", i, r.Err)
		}
	}
	return nil
}

// queueBurst leaves texts from c in user's mailbox (a benchmark's
// backlog).
func queueBurst(ctx context.Context, c *client.Client, to string, texts []string) error {
	for len(texts) > 0 {
		n := min(len(texts), client.MaxBurst)
		if err := sendBurst(ctx, c, to, texts[:n]); err != nil {
			return err
		}
		texts = texts[n:]
	}
	return nil
}
