package mobile

import (
	"context"

	"parley.dev/client"
)

// CreateGroup creates a group named name with this user as its admin and
// users as its members, and returns its ID. The ID is valid even when the
// relay could not be reached (parley:unreachable is not returned then):
// the signed create waits in the outbox.
func (m *Client) CreateGroup(name string, users *StringList, timeoutMs int64) (string, error) {
	var id client.GroupID
	err := m.do(timeoutMs, func(ctx context.Context, c *client.Client) (err error) {
		id, err = c.CreateGroup(ctx, name, users.slice())
		return err
	})
	if err != nil && (id.IsZero() || codeOf(err) != "unreachable") {
		return "", err
	}
	return id.String(), nil
}

// AddMembers adds users to a group; this user must be an admin.
func (m *Client) AddMembers(groupID string, users *StringList, timeoutMs int64) error {
	return m.group(groupID, timeoutMs, func(ctx context.Context, c *client.Client, id client.GroupID) error {
		return c.AddMembers(ctx, id, users.slice())
	})
}

// RemoveMembers removes users from a group; this user must be an admin.
// They cannot read what is sent afterwards.
func (m *Client) RemoveMembers(groupID string, users *StringList, timeoutMs int64) error {
	return m.group(groupID, timeoutMs, func(ctx context.Context, c *client.Client, id client.GroupID) error {
		return c.RemoveMembers(ctx, id, users.slice())
	})
}

// SetAdmins makes users admins of a group (admin true) or plain members.
func (m *Client) SetAdmins(groupID string, users *StringList, admin bool, timeoutMs int64) error {
	return m.group(groupID, timeoutMs, func(ctx context.Context, c *client.Client, id client.GroupID) error {
		return c.SetAdmins(ctx, id, users.slice(), admin)
	})
}

// RenameGroup renames a group; this user must be an admin.
func (m *Client) RenameGroup(groupID, name string, timeoutMs int64) error {
	return m.group(groupID, timeoutMs, func(ctx context.Context, c *client.Client, id client.GroupID) error {
		return c.RenameGroup(ctx, id, name)
	})
}

// LeaveGroup takes this user out of a group, on all its devices.
func (m *Client) LeaveGroup(groupID string, timeoutMs int64) error {
	return m.group(groupID, timeoutMs, func(ctx context.Context, c *client.Client, id client.GroupID) error {
		return c.LeaveGroup(ctx, id)
	})
}

// SendGroup writes text to a group; results as Send's.
func (m *Client) SendGroup(groupID, text string, timeoutMs int64) (*Sent, error) {
	id, err := client.ParseGroupID(groupID)
	if err != nil {
		return nil, wrap(err)
	}
	return m.send(timeoutMs, func(ctx context.Context, c *client.Client) (client.MessageID, error) {
		return c.SendGroup(ctx, id, text)
	})
}

// Groups lists the groups this device knows, current and left, by name.
func (m *Client) Groups() (*GroupList, error) {
	var list []client.Group
	err := m.do(0, func(ctx context.Context, c *client.Client) (err error) {
		list, err = c.Groups(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := &GroupList{}
	for _, g := range list {
		out.items = append(out.items, newGroup(g))
	}
	return out, nil
}

// Group returns one group's current state.
func (m *Client) Group(groupID string) (*Group, error) {
	var g client.Group
	err := m.group(groupID, 0, func(ctx context.Context, c *client.Client, id client.GroupID) (err error) {
		g, err = c.Group(ctx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return newGroup(g), nil
}

// GroupHistory returns a page of a group's messages, oldest first, paged
// like History. Changes to the group are not in it: Group gives the
// current state and Listener.OnGroupChanged each change as it comes.
func (m *Client) GroupHistory(groupID, before string, limit int32) (*MessagePage, error) {
	var list []client.Message
	err := m.group(groupID, 0, func(ctx context.Context, c *client.Client, id client.GroupID) error {
		entries, err := c.GroupHistory(ctx, id)
		for _, e := range entries {
			if e.Message != nil {
				list = append(list, *e.Message)
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return page(list, before, limit)
}

// group runs f with a parsed group ID on the open client.
func (m *Client) group(groupID string, timeoutMs int64, f func(context.Context, *client.Client, client.GroupID) error) error {
	id, err := client.ParseGroupID(groupID)
	if err != nil {
		return wrap(err)
	}
	return m.do(timeoutMs, func(ctx context.Context, c *client.Client) error { return f(ctx, c, id) })
}
