package store

// KindGroup is a group message: end-to-end ciphertext that one sender
// submitted once for many devices (wire.KindGroup). The relay stores a
// copy in each recipient's mailbox, like a KindMessage envelope, except
// that it expires without a notice to the sender: a group's sender learns
// nothing per recipient device.
const KindGroup Kind = 3
