package pipeline

import (
	"context"
	"errors"
	"fmt"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/orderpipe/orderpipe/internal/deadletter"
	"github.com/orderpipe/orderpipe/internal/kafka"
)

// DeadLetters writes messages to the dead-letter topic in one attempt. It
// returns nil once Kafka acknowledged all of them; otherwise the messages
// not acknowledged (which the pipeline sends again, under its one retry
// policy) and why. An error matching kafka.ErrPermanent cannot be fixed by
// retrying.
type DeadLetters interface {
	WriteDeadLetters(ctx context.Context, msgs []kafkago.Message) (unwritten []kafkago.Message, err error)
}

// KafkaDeadLetters writes dead letters through a Kafka writer; kafka-go's
// Writer is safe for the concurrent calls of several batches.
type KafkaDeadLetters struct {
	Writer kafka.MessageWriter
}

// WriteDeadLetters implements DeadLetters with kafka.WriteOnce.
func (d *KafkaDeadLetters) WriteDeadLetters(ctx context.Context, msgs []kafkago.Message) ([]kafkago.Message, error) {
	return kafka.WriteOnce(ctx, d.Writer, msgs)
}

// deadLetter copies m for the dead-letter topic: same key and bytes, the
// original headers, then why and where it came from.
func deadLetter(m kafkago.Message, reason string) kafkago.Message {
	src := deadletter.Source{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset}
	headers := append(append([]kafkago.Header(nil), m.Headers...), deadletter.Headers(src, reason)...)
	return kafkago.Message{Key: m.Key, Value: m.Value, Headers: headers}
}

// writeDeadLetters writes msgs, retrying what was not written until all are
// (true), work ends (false, nil), or a failure is permanent (false and the
// error): a bad message must not stop the stream because the dead-letter
// topic is briefly unavailable, and one that can never be written must not
// be skipped either.
func (p *Pipeline) writeDeadLetters(work context.Context, msgs []kafkago.Message) (bool, error) {
	pending := msgs
	return p.retry(work, "dead-letters", func(attempt int) (bool, string, error) {
		unwritten, err := p.dlq.WriteDeadLetters(work, pending)
		switch {
		case err == nil:
			return true, "", nil
		case errors.Is(err, kafka.ErrPermanent):
			return false, "", fmt.Errorf("write %d dead letters: %w", len(pending), err)
		}
		if len(unwritten) > 0 {
			pending = unwritten
		}
		if work.Err() == nil {
			// Dead letters, like orders, may be stored twice by a resend
			// after a lost answer; the log says how many.
			var werr *kafka.WriteError
			mayDuplicate := 0
			if errors.As(err, &werr) {
				mayDuplicate = werr.MayDuplicate
			}
			p.retries.Add(int64(len(pending)))
			p.metrics.Retries.WithLabelValues("dlq_write").Add(float64(len(pending)))
			p.log.Warn("dead-letter write failed, retrying", "messages", len(pending), "may_duplicate", mayDuplicate, "error", err.Error(), "attempt", attempt)
		}
		return false, "dead-letter write failing: " + err.Error() + "; retrying", nil
	})
}
