package pipeline

import (
	"context"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

// commitLoop commits the ledger's progress asynchronously, so that no batch
// waits for a commit: it wakes when a commit point moved, commits every
// partition whose done prefix passed what Kafka holds, then rests
// CommitInterval, during which further acks coalesce into the next commit.
// A failed commit (typically a rebalance moved the partition) is logged and
// tried again after a backoff, never fatal: the next owner re-reads from the
// last commit and re-indexes idempotently. When stop ends it commits one
// last time and returns; a stop and a pending change together make that one
// commit, not two, and every commit ends when ctx does (Run's shutdown
// deadline).
func (p *Pipeline) commitLoop(stop, ctx context.Context, l *ledger) {
	bo := p.backoff()
	retry := time.NewTimer(0)
	retry.Stop()
	defer retry.Stop()
	for {
		select {
		case <-stop.Done():
		case <-l.changed:
		case <-retry.C:
		}
		if stop.Err() != nil {
			p.commitDue(ctx, l)
			return
		}
		if p.commitDue(ctx, l) {
			bo.Reset()
		} else {
			retry.Reset(bo.NextBackOff())
		}
		select {
		case <-stop.Done():
		case <-time.After(p.cfg.CommitInterval):
		}
	}
}

// commitDue commits what the ledger says is due and reports whether Kafka
// took it (true when nothing was due).
func (p *Pipeline) commitDue(parent context.Context, l *ledger) bool {
	points := l.due()
	if len(points) == 0 {
		return true
	}
	msgs := make([]kafkago.Message, len(points))
	for i, pt := range points {
		msgs[i] = pt.msg
	}
	// Its own deadline, not the pipeline's: the last commit runs during
	// shutdown, and what is handled should not be redone; parent bounds
	// it by the shutdown's deadline.
	ctx, cancel := context.WithTimeout(parent, p.cfg.CommitTimeout)
	defer cancel()
	if err := p.fetch.CommitMessages(ctx, msgs...); err != nil {
		p.commitFailures.Add(1)
		p.metrics.CommitFailures.Inc()
		p.log.Warn("commit failed; retrying, and the messages will be delivered again if the partitions moved", "error", err.Error(), "partitions", len(msgs))
		return false
	}
	l.committed(points)
	p.committed.Add(int64(len(msgs)))
	return true
}
