//go:build !race

package transports_test

// raceEnabled reports whether the race detector is on (tests skip what it
// makes too slow).
const raceEnabled = false
