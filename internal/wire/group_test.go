package wire

import "parley.dev/internal/addr"

// groupSamples holds one valid frame of each group type.
func groupSamples() []Frame {
	return []Frame{
		&GroupSubmit{ID: msgID, Payload: []byte("group ciphertext"), To: []addr.Address{alice1, bob2, {User: "bob", Device: 3}}},
		&GroupSubmitResult{ID: msgID, Stored: 2, Failures: []GroupFailure{{To: bob2, Code: CodeUnknownDevice}}},
	}
}
