package producer

import (
	"context"
	"log/slog"
	"sync/atomic"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/orderpipe/orderpipe/internal/kafka"
	"github.com/orderpipe/orderpipe/internal/ops"
)

// KafkaWriter is the producer's Writer on Kafka, the one adapter that the
// producer command and in-process tests share. It writes through
// kafka.WriteAll, the only retry loop between the producer and Kafka, and
// makes every resend visible: a warning, the reason in /readyz until writes
// recover, and counts in Stats and the Observer.
type KafkaWriter struct {
	w     kafka.MessageWriter
	log   *slog.Logger
	ready *ops.Readiness
	obs   Observer
	Stats WriterStats
	// retrying counts the WriteAll calls (one per lane) resending now:
	// the lanes share a broker, so they fail together, and the writer is
	// ready again, with one line saying so, only when the last is through.
	retrying atomic.Int64
}

// WriterStats are a KafkaWriter's running totals, safe to read while it
// writes.
type WriterStats struct {
	// Failed counts message write attempts that failed and were retried.
	Failed atomic.Int64
	// PossibleDuplicates counts messages resent after an attempt that a
	// broker may have stored all the same: the most extra copies of
	// acknowledged messages the topic can hold because of this writer.
	// Harmless downstream (the consumer indexes with external versions),
	// but counted so that a test or an operator can check the topic
	// against it.
	PossibleDuplicates atomic.Int64
}

// NewKafkaWriter returns the adapter for w (a writer from kafka.NewWriter).
// ready, when not nil, is marked not ready while writes fail and ready
// again when they recover; obs may be nil.
func NewKafkaWriter(w kafka.MessageWriter, log *slog.Logger, ready *ops.Readiness, obs Observer) *KafkaWriter {
	if obs == nil {
		obs = nopObserver{}
	}
	return &KafkaWriter{w: w, log: log, ready: ready, obs: obs}
}

// WriteAll implements Writer.
func (k *KafkaWriter) WriteAll(ctx context.Context, msgs []kafkago.Message) ([]kafkago.Message, error) {
	retried := false
	acked, err := kafka.WriteAll(ctx, k.w, msgs, func(r kafka.Resend) {
		if !retried {
			retried = true
			k.retrying.Add(1)
		}
		k.Stats.Failed.Add(int64(r.Messages))
		k.Stats.PossibleDuplicates.Add(int64(r.MayDuplicate))
		k.obs.Resending(r.Messages, r.MayDuplicate)
		if k.ready != nil {
			k.ready.NotReady("kafka write failing, retrying: " + r.Err.Error())
		}
		k.log.Warn("kafka write failed, retrying", "messages", r.Messages, "may_duplicate", r.MayDuplicate,
			"retry_in", r.Wait.String(), "error", r.Err.Error())
	})
	if retried && k.retrying.Add(-1) == 0 && err == nil {
		if k.ready != nil {
			k.ready.Ready()
		}
		k.log.Info("kafka writes recovered")
	}
	return acked, err
}
