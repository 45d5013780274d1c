//go:build race

package servicetest

// raceEnabled reports a -race build (see Heavy).
const raceEnabled = true
