package pipeline

import (
	"context"
	"errors"
	"fmt"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/orderpipe/orderpipe/internal/deadletter"
	"github.com/orderpipe/orderpipe/internal/kafka"
	"github.com/orderpipe/orderpipe/internal/retry"
)

// DeadLetters writes messages to the dead-letter topic in one attempt. It
// returns nil once Kafka acknowledged all of them; otherwise the messages
// not acknowledged (which the pipeline sends again, under its one retry
// policy) and why. An error matching retry.IsPermanent cannot be fixed by
// retrying.
type DeadLetters interface {
	WriteDeadLetters(ctx context.Context, msgs []kafkago.Message) (unwritten []kafkago.Message, err error)
}

// KafkaDeadLetters writes dead letters through a Kafka writer; kafka-go's
// Writer is safe for the concurrent calls of several batches.
type KafkaDeadLetters struct {
	Writer kafka.MessageWriter
	Topic  string // the writer's, named in what to change after a permanent failure
}

// WriteDeadLetters implements DeadLetters with kafka.WriteOnce.
func (d *KafkaDeadLetters) WriteDeadLetters(ctx context.Context, msgs []kafkago.Message) ([]kafkago.Message, error) {
	unwritten, err := kafka.WriteOnce(ctx, d.Writer, msgs)
	if err != nil && retry.IsPermanent(err) && !kafka.TooLarge(err) {
		err = fmt.Errorf("%w (to fix: %s)", err, kafka.PermanentHint(err, d.Topic))
	}
	return unwritten, err
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
		if err != nil && kafka.TooLarge(err) {
			unwritten, err = p.writeCut(work, unwritten)
		}
		switch {
		case err == nil:
			return true, "", nil
		case retry.IsPermanent(err):
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

// deadLetterFitBytes is the first size a dead letter Kafka refused as too
// large is cut to: under both Kafka's default limit (message.max.bytes,
// 1,048,588 bytes of a compressed record batch) and kafka-go's default
// BatchBytes (1 MiB), with room for the batch's framing.
//
// The limit is found by refusal, not read from the topic's or the broker's
// configuration: reading it needs DescribeConfigs, which a least-privilege
// consumer need not have; the limit that counts may be the topic's, the
// broker's or the writer's own (KAFKA_BATCH_BYTES), whichever is lowest;
// and Kafka applies it to the compressed batch, which no client-side count
// predicts. So a refused dead letter is sent alone (it may only have been
// its batch that was too large), then cut to this size (or to 3/4 of its
// own when smaller), then to 3/4 of the last size on each further refusal:
// it keeps at least 3/4 of what would have fitted (halving could keep only
// half), for a few more round trips on a message that is rare by nature,
// each refused before any append (no duplicate), and it is right whatever
// the limit is.
const deadLetterFitBytes = 1_000_000

// writeCut writes msgs, which Kafka refused as too large, one at a time,
// each cut (deadletter.Truncate) as far as it takes to be taken. It returns
// the messages not written and why: a transient failure (the caller's retry
// sends them again) or a permanent one, such as a topic whose limit does not
// even take a dead letter's reason and source headers.
func (p *Pipeline) writeCut(work context.Context, msgs []kafkago.Message) ([]kafkago.Message, error) {
	for i, m := range msgs {
		limit, send := 0, m
		for {
			_, err := p.dlq.WriteDeadLetters(work, []kafkago.Message{send})
			if err == nil {
				break
			}
			if !kafka.TooLarge(err) {
				return msgs[i:], err
			}
			switch size := deadletter.Size(m); {
			case limit == 0 && size > deadLetterFitBytes:
				limit = deadLetterFitBytes
			case limit == 0:
				limit = size * 3 / 4
			default:
				limit = limit * 3 / 4
			}
			cut, ok := deadletter.Truncate(m, limit)
			if !ok {
				src := deadletter.LastHeader(m.Headers, deadletter.HeaderSourceTopic) + "/" + deadletter.LastHeader(m.Headers, deadletter.HeaderSourcePartition) + "@" + deadletter.LastHeader(m.Headers, deadletter.HeaderSourceOffset)
				return msgs[i:], fmt.Errorf("dead letter of %s refused as too large even cut to %d bytes: %w (to fix: raise max.message.bytes of the dead-letter topic, and KAFKA_BATCH_BYTES)",
					src, limit, err)
			}
			send = cut
		}
		if limit > 0 {
			p.log.Warn("dead letter too large for the dead-letter topic; wrote it truncated, the whole message stays in the source topic",
				"source_topic", deadletter.LastHeader(m.Headers, deadletter.HeaderSourceTopic), "partition", deadletter.LastHeader(m.Headers, deadletter.HeaderSourcePartition),
				"offset", deadletter.LastHeader(m.Headers, deadletter.HeaderSourceOffset), "bytes", deadletter.Size(m), "written_bytes", deadletter.Size(send))
		}
	}
	return nil, nil
}
