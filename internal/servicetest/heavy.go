package servicetest

import "testing"

// HeavyTarget is the make target that runs the heavy tests without -race.
const HeavyTarget = "make test-heavy"

// Heavy marks a fault run of 50,000 to 100,000 orders. Its exactness is proven by counting
// documents and offsets, which the race detector's 5-10x slowdown adds
// nothing to, so under -race it skips (naming the target that runs it
// without -race: make test runs both); the unit tests keep -race.
func Heavy(tb testing.TB) {
	tb.Helper()
	if raceEnabled {
		tb.Skip("heavy fault run: skipped under -race; " + HeavyTarget + " (part of make test) runs it without -race")
	}
}

// Scaled returns full without -race and underRace under it: for a test
// whose size is the claim (a million messages, say) and that still proves
// its point at a fraction of it, so that the -race suite runs it too, at a
// size the race detector's slowdown leaves affordable.
func Scaled(full, underRace int) int {
	if raceEnabled {
		return underRace
	}
	return full
}
