package wire

import "parley.dev/internal/addr"

// groupSamples holds one valid frame of each group type.
func groupSamples() []Frame {
	return []Frame{
		&GroupSubmit{ID: msgID, Payload: []byte("group ciphertext"), To: []addr.Address{alice1, bob2, {User: "bob", Device: 3}}},
		&GroupSubmitResult{ID: msgID, Stored: 2, Failures: []GroupFailure{{To: bob2, Code: CodeUnknownDevice}}},
		&DeviceListsRequest{Users: []addr.UserID{"alice", "bob"}},
		&DeviceLists{Lists: []DeviceList{{User: "alice", Identity: []byte("ia"), Devices: []DeviceInfo{{1, []byte("k1"), []byte("c1")}}},
			{User: "bob", Identity: []byte("ib"), Devices: []DeviceInfo{{2, []byte("k2"), []byte("c2")}}}}},
		&Request{ID: 12, Op: OpDeviceLists, Users: &DeviceListsRequest{Users: []addr.UserID{"bob", "carol"}}},
		&Response{ID: 12, Answer: &DeviceLists{Lists: []DeviceList{{User: "bob", Identity: []byte("ib"), Devices: []DeviceInfo{{2, []byte("k2"), []byte("c2")}}}}}},
	}
}
