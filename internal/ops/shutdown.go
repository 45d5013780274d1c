package ops

import (
	"context"
	"time"
)

// Outlive is the second phase of a two-phase stop, the one rule both
// daemons stop by: the first phase is parent ending (stop taking new work:
// no more fetching, no more generating); the context returned here carries
// the work already taken, which must not be thrown away at once (a bulk
// request about to succeed, a batch being flushed), and ends budget after
// parent does, or when cancel is called. cancel also releases the timer.
func Outlive(parent context.Context, budget time.Duration) (ctx context.Context, cancel context.CancelFunc) {
	ctx, cancelCtx := context.WithCancel(context.WithoutCancel(parent))
	stop := context.AfterFunc(parent, func() {
		t := time.AfterFunc(budget, cancelCtx)
		context.AfterFunc(ctx, func() { t.Stop() })
	})
	return ctx, func() {
		stop()
		cancelCtx()
	}
}
