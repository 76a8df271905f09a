package mobile

// Home returns the vault directory of m.
func Home(m *Client) string { return m.cfg.Home }
