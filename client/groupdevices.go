package client

import (
	"context"
	"fmt"

	"parley.dev/internal/addr"
	"parley.dev/internal/wire"
)

// Device lists are asked for once per flush, many users per request
// (wire.DeviceListsRequest: a Send's recipient with this user, a group's
// members): a device linked or revoked since
// the last flush is seen at once (a revoked device stops getting the
// sender key, a new one starts), and a group of many members costs a few
// requests, not one per member.

// prefetchLists asks the relay for the device lists of users not listed
// yet in this flush.
func (f *flusher) prefetchLists(ctx context.Context, users []addr.UserID) error {
	var need []addr.UserID
	for _, u := range users {
		if _, ok := f.lists[u]; !ok {
			need = append(need, u)
		}
	}
	if len(need) == 0 {
		return nil
	}
	got, err := f.rc.DeviceLists(ctx, f.a.auth(), need)
	if err != nil {
		return relayErr(err)
	}
	if f.lists == nil {
		f.lists = map[addr.UserID]*wire.DeviceList{}
	}
	for _, u := range need {
		f.lists[u] = got[u] // nil: no such user
	}
	return nil
}

// deviceList returns user's device list, from this flush's lists.
func (f *flusher) deviceList(ctx context.Context, user addr.UserID) (*wire.DeviceList, error) {
	if err := f.prefetchLists(ctx, []addr.UserID{user}); err != nil {
		return nil, err
	}
	if l := f.lists[user]; l != nil {
		return l, nil
	}
	return nil, fmt.Errorf("%w: %s", ErrUnknownUser, user)
}
