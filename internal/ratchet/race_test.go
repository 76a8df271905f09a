//go:build race

package ratchet

// raceEnabled reports a -race build. The race detector makes X25519 about
// 25 times slower, and this package starts no goroutines, so the long
// randomized tests run a sample under -race and in full otherwise.
const raceEnabled = true
