//go:build !race

package ratchet

// raceEnabled reports a -race build (see race_test.go).
const raceEnabled = false
