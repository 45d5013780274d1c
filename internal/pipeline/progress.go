package pipeline

import (
	"context"
	"time"
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
			secs := now.Sub(prevAt).Seconds()
			p.log.Info("progress",
				"consumed", s.Consumed, "indexed", s.Indexed, "conflicts", s.Conflicts, "superseded", s.Superseded,
				"dead_lettered", s.DeadLettered, "retries", s.Retries, "commit_failures", s.CommitFailures,
				"consumed_per_s", round1(float64(s.Consumed-prev.Consumed)/secs),
				"indexed_per_s", round1(float64(s.Indexed-prev.Indexed)/secs),
				"ready", p.health.Reason() == "")
			prev, prevAt = s, now
		}
	}
}

func round1(x float64) float64 { return float64(int64(x*10)) / 10 }
