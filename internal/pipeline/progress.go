package pipeline

import (
	"context"
	"time"

	"github.com/orderpipe/orderpipe/internal/ops"
)

// logProgress logs the counts and rates every ProgressInterval until ctx
// ends, so that a tail of the log shows the consumer moving.
func (p *Pipeline) logProgress(ctx context.Context) {
	t := time.NewTicker(p.cfg.ProgressInterval)
	defer t.Stop()
	prev, prevAt := p.Stats(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s := p.Stats()
			took := now.Sub(prevAt)
			p.log.Info("progress",
				"consumed", s.Consumed, "indexed", s.Indexed, "conflicts", s.Conflicts, "superseded", s.Superseded,
				"dead_lettered", s.DeadLettered, "retries", s.Retries, "commit_failures", s.CommitFailures,
				"consumed_per_s", ops.PerSecond(s.Consumed-prev.Consumed, took),
				"indexed_per_s", ops.PerSecond(s.Indexed-prev.Indexed, took),
				"ready", p.health.Reason() == "")
			prev, prevAt = s, now
		}
	}
}
