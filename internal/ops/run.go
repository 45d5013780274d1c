package ops

import (
	"context"

	"golang.org/x/sync/errgroup"
)

// RunWith runs work and the ops server as one group. The ops server
// outlives work's drain, so /readyz and /metrics answer until the very end,
// and is stopped once work returned. If the ops server fails, work's context
// ends at once (it drains like on SIGTERM) and the ops error is returned:
// a daemon whose probes cannot be answered must not carry on unnoticed.
func RunWith(ctx context.Context, serveOps, work func(context.Context) error) error {
	g, workCtx := errgroup.WithContext(ctx)
	opsCtx, stopOps := context.WithCancel(context.WithoutCancel(ctx))
	defer stopOps()
	g.Go(func() error { return serveOps(opsCtx) })
	g.Go(func() error {
		defer stopOps()
		return work(workCtx)
	})
	return g.Wait()
}
