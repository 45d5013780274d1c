package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

// fetchLoop fetches messages into out, ahead of the batches in flight,
// until ctx ends (nil) or the reader is closed (an error). It closes out
// when it returns. A fetch that fails is retried with the pipeline's
// backoff, and readiness says why meanwhile.
func (p *Pipeline) fetchLoop(ctx context.Context, out chan<- kafkago.Message) error {
	defer close(out)
	bo := p.backoff()
	failing := false
	for {
		m, err := p.fetch.FetchMessage(ctx)
		switch {
		case err == nil:
			if failing {
				failing = false
				bo.Reset()
				p.health.Set("kafka-fetch", "")
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
		wait := bo.NextBackOff()
		p.health.Set("kafka-fetch", "kafka unavailable: "+err.Error()+"; retrying")
		p.log.Warn("fetch failed, retrying", "error", err.Error(), "retry_in", wait.String())
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}
