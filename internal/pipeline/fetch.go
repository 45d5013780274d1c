package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/orderpipe/orderpipe/internal/kafka"
)

// fetchLoop fetches messages (from a PartitionFetcher, with their
// generation) into out, ahead of the batches in flight,
// until ctx ends (nil) or the reader is closed (an error). It closes out
// when it returns.
//
// A failed fetch is not retried here with a backoff: kafka-go's reader
// reconnects on its own, at its own pace, and reports its failures through
// the same queue the messages come through. Sleeping on each reported error
// would hold back the messages queued behind it; after a broker died, a
// consumer that backed off on each of the dozens of queued reports stayed
// idle for as long as the broker was down, long after the partitions had new
// leaders. So the loop fetches again at once; readiness says why meanwhile,
// and the log gets one line per second at most.
//
// Only a Fetcher that fails at once forever could spin this loop (kafka-go's
// does not: its partition readers back off up to a second between
// attempts); after fetchErrorsBeforePause errors in a row without a message
// the loop pauses RetryInitial between fetches, far more errors than a
// failover queues.
func (p *Pipeline) fetchLoop(ctx context.Context, out chan<- kafka.Fetched) error {
	defer close(out)
	fetch := func(ctx context.Context) (kafka.Fetched, error) {
		m, err := p.fetch.FetchMessage(ctx)
		return kafka.Fetched{Message: m}, err
	}
	if pf, ok := p.fetch.(PartitionFetcher); ok {
		fetch = pf.Fetch
	}
	var failing bool
	var lastLog time.Time
	var suppressed, streak int
	for {
		m, err := fetch(ctx)
		switch {
		case err == nil:
			streak = 0
			if failing {
				failing = false
				p.health.Set("kafka-fetch", "")
				p.log.Info("kafka answers fetches again", "errors_not_logged", suppressed)
				suppressed = 0
			}
			p.consumed.Add(1)
			p.metrics.Consumed.Inc()
			select {
			case out <- m:
			case <-ctx.Done():
				return nil
			}
			continue
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, io.EOF):
			return fmt.Errorf("fetch messages: reader closed: %w", err)
		}
		failing = true
		p.health.Set("kafka-fetch", "kafka unavailable: "+err.Error()+"; the reader reconnects")
		if now := time.Now(); now.Sub(lastLog) >= time.Second {
			p.log.Warn("fetch failed; the reader reconnects", "error", err.Error(), "errors_not_logged", suppressed)
			lastLog, suppressed = now, 0
		} else {
			suppressed++
		}
		if streak++; streak >= fetchErrorsBeforePause {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(p.cfg.RetryInitial):
			}
		}
	}
}

const fetchErrorsBeforePause = 100
