package servicetest

import (
	"net"
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

// FreeAddr returns a loopback address nothing listens on now, e.g. for
// OPS_ADDR.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
