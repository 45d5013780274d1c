package servicetest

import (
	"testing"
	"time"
)

// WaitFor polls cond every 100 ms until it holds, and returns how long
// that took; it fails the test after timeout, naming what it waited for.
func WaitFor(tb testing.TB, timeout time.Duration, what string, cond func() bool) time.Duration {
	tb.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			tb.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Since(start)
}
