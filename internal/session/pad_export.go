package session

// Pad returns plaintext padded as a session pads it before sealing (see
// padding.go): for other packages that seal user data under their own
// keys, such as group messages, so that every message leaks as little of
// its length.
func Pad(plaintext []byte) []byte { return pad(plaintext) }

// Unpad strips the padding Pad added; bad padding wraps ErrMalformed.
func Unpad(padded []byte) ([]byte, error) { return unpad(padded) }
