package servicetest

import (
	"context"
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

// RunUntilCleanup runs run (a server's Run) in the background until the
// test ends, then cancels its context, waits for it and fails the test if
// it returned an error: the one owner of such a goroutine in tests.
func RunUntilCleanup(tb testing.TB, run func(ctx context.Context) error) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("run until cleanup: %v", err)
		}
	})
}
