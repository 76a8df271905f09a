//go:build !race

package session

// raceEnabled shortens the slowest property test under the race detector.
const raceEnabled = false
