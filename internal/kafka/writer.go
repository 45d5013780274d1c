package kafka

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"

	"github.com/orderpipe/orderpipe/internal/retry"
	"github.com/orderpipe/orderpipe/internal/settings"
)

// WriterConfig holds the producer's producing settings. The defaults favour
// durability (acks from all in-sync replicas) and throughput (large
// batches, lz4) over the last millisecond of latency.
type WriterConfig struct {
	Acks string `envconfig:"KAFKA_ACKS" default:"all" desc:"acknowledgements to wait for: all, one or none"`
	BatchConfig
}

// BatchConfig is how a writer batches and compresses. The consumer's
// dead-letter writer reads only this: its acks are always all
// (NewDeadLetterWriter), since a dead letter's offset is committed once
// Kafka acknowledged it, and any acknowledgement short of all could commit
// past a message that is then lost.
type BatchConfig struct {
	Compression  string        `envconfig:"KAFKA_COMPRESSION" default:"lz4" desc:"batch compression: none, gzip, snappy, lz4 or zstd"`
	BatchSize    int           `envconfig:"KAFKA_BATCH_SIZE" default:"1000" desc:"most messages in one batch"`
	BatchBytes   int64         `envconfig:"KAFKA_BATCH_BYTES" default:"1048576" desc:"most bytes in one batch"`
	BatchTimeout time.Duration `envconfig:"KAFKA_BATCH_TIMEOUT" default:"5ms" desc:"longest a message waits for its batch to fill"`
}

// Validate names the variable of the first bad setting.
func (c WriterConfig) Validate() error {
	if _, err := c.acks(); err != nil {
		return err
	}
	return c.BatchConfig.Validate()
}

// Validate names the variable of the first bad setting.
func (c BatchConfig) Validate() error {
	if _, err := c.compression(); err != nil {
		return err
	}
	if c.BatchSize < 1 {
		return &settings.Error{Variable: "KAFKA_BATCH_SIZE", Reason: "must be at least 1"}
	}
	if c.BatchBytes < 1024 {
		return &settings.Error{Variable: "KAFKA_BATCH_BYTES", Reason: "must be at least 1024"}
	}
	if c.BatchTimeout <= 0 {
		return &settings.Error{Variable: "KAFKA_BATCH_TIMEOUT", Reason: "must be positive"}
	}
	return nil
}

func (c WriterConfig) acks() (kafkago.RequiredAcks, error) {
	switch strings.ToLower(c.Acks) {
	case "all", "-1":
		return kafkago.RequireAll, nil
	case "one", "1":
		return kafkago.RequireOne, nil
	case "none", "0":
		return kafkago.RequireNone, nil
	}
	return 0, &settings.Error{Variable: "KAFKA_ACKS", Reason: fmt.Sprintf("%q is not all, one or none", c.Acks)}
}

func (c BatchConfig) compression() (compress.Compression, error) {
	switch strings.ToLower(c.Compression) {
	case "none", "":
		return 0, nil
	case "gzip":
		return compress.Gzip, nil
	case "snappy":
		return compress.Snappy, nil
	case "lz4":
		return compress.Lz4, nil
	case "zstd":
		return compress.Zstd, nil
	}
	return 0, &settings.Error{Variable: "KAFKA_COMPRESSION", Reason: fmt.Sprintf("%q is not none, gzip, snappy, lz4 or zstd", c.Compression)}
}

// NewDeadLetterWriter is NewWriter for the consumer's dead-letter topic:
// acks from all in-sync replicas, whatever KAFKA_ACKS says for the
// producer.
func NewDeadLetterWriter(cfg Config, bc BatchConfig, topic string) (*kafkago.Writer, error) {
	return NewWriter(cfg, WriterConfig{Acks: "all", BatchConfig: bc}, topic)
}

// NewWriter returns a synchronous writer for topic. Messages are partitioned
// by key with murmur2, the Java client's partitioner, so that a key lands on
// the same partition whichever client wrote it, and one order's events stay in
// order on one partition.
func NewWriter(cfg Config, wc WriterConfig, topic string) (*kafkago.Writer, error) {
	if err := wc.Validate(); err != nil {
		return nil, err
	}
	acks, _ := wc.acks()
	codec, _ := wc.compression()
	tr, err := cfg.Transport()
	if err != nil {
		return nil, err
	}
	return &kafkago.Writer{
		Addr:         kafkago.TCP(cfg.Brokers...),
		Topic:        topic,
		Balancer:     &kafkago.Murmur2Balancer{},
		RequiredAcks: acks,
		Compression:  codec,
		BatchSize:    wc.BatchSize,
		BatchBytes:   wc.BatchBytes,
		// Callers hand over whole batches (the producer lingers
		// KAFKA_BATCH_TIMEOUT itself) and wait for them: kafka-go's own
		// per-partition timer would add that linger a second time to
		// every call, since a call's share of one partition rarely fills
		// a batch. A millisecond is ample to take in a whole call.
		BatchTimeout: writerFlush,
		// One attempt: WriteAll (or the consumer's dead-letter retry) is
		// the only retry loop. kafka-go's own resends are invisible to the
		// caller, and a resend after a lost acknowledgement can store a
		// message twice, so every resend must go through code that counts
		// it.
		MaxAttempts: 1,
		Transport:   tr,
	}, nil
}

// writeBackoff paces WriteAll's resends. It starts short, since a blip
// (one dropped connection) clears at once, and is capped at about the
// metadata TTL (see Config.Transport): after a broker dies, writes to its
// partitions fail until a new leader is elected (seconds) and the transport
// has read that, so waiting much longer than a refresh only adds to the
// failover, while a shorter cap would resend to the dead leader many times
// for nothing.
var writeBackoff = retry.Backoff{Initial: 100 * time.Millisecond, Max: 2 * time.Second} // waits up to 3 s with retry's ±50 % jitter

// writerFlush is how long kafka-go waits for more of a call's messages
// before it sends a partition's batch.
const writerFlush = time.Millisecond

// MessageWriter is what WriteAll writes through; *kafkago.Writer implements
// it.
type MessageWriter interface {
	WriteMessages(ctx context.Context, msgs ...kafkago.Message) error
}

// WriteAll writes msgs and retries exactly the messages that failed, with
// capped exponential backoff, until every one is acknowledged, ctx ends, or a
// failure is permanent (the error then matches retry.IsPermanent and is
// returned at once). It returns the messages Kafka acknowledged: msgs itself when all
// were, so the common case copies nothing; on error the others were not (as
// far as the client can tell: a message whose acknowledgement was lost may
// still have been written, which is why consumers must be idempotent). The
// failed messages may be anywhere in msgs (one partition's leader failing
// fails its messages throughout the batch), so a caller counts what the
// returned slice holds, never a prefix of msgs.
// onResend, if set, is told about each resend before the wait.
func WriteAll(ctx context.Context, w MessageWriter, msgs []kafkago.Message, onResend func(Resend)) ([]kafkago.Message, error) {
	sent := msgs
	var pending []int // indexes into msgs of the messages in sent; nil: all of msgs
	_, err := retry.Do(ctx, writeBackoff, func() (struct{}, error) {
		failed, err := writeOnce(ctx, w, sent)
		if err == nil {
			pending, sent = pending[:0], nil
			return struct{}{}, nil
		}
		pending = pick(pending, failed)
		sent = gather(msgs, pending)
		return struct{}{}, err // a permanent one is marked, and Do returns it at once
	}, func(_ int, err error, wait time.Duration) {
		if onResend == nil {
			return
		}
		r := Resend{Messages: len(sent), Err: err, Wait: wait}
		var werr *WriteError
		if errors.As(err, &werr) {
			r.MayDuplicate = werr.MayDuplicate
		}
		onResend(r)
	})
	if err == nil {
		return msgs, nil
	}
	// retry.Do's error already names the last write error.
	return acknowledged(msgs, pending), err
}

// pick maps failed, indexes into the messages just sent, to indexes into
// the caller's messages; pending holds those of the messages sent (nil when
// all of them were).
func pick(pending, failed []int) []int {
	if pending == nil {
		return failed
	}
	out := make([]int, len(failed))
	for i, f := range failed {
		out[i] = pending[f]
	}
	return out
}

func gather(msgs []kafkago.Message, idx []int) []kafkago.Message {
	out := make([]kafkago.Message, len(idx))
	for i, j := range idx {
		out[i] = msgs[j]
	}
	return out
}

// acknowledged returns msgs less the ascending indexes in unacked.
func acknowledged(msgs []kafkago.Message, unacked []int) []kafkago.Message {
	out := make([]kafkago.Message, 0, len(msgs)-len(unacked))
	for i, m := range msgs {
		if len(unacked) > 0 && unacked[0] == i {
			unacked = unacked[1:]
			continue
		}
		out = append(out, m)
	}
	return out
}

// Resend is what WriteAll tells its caller before it sends messages again.
type Resend struct {
	// Messages were not acknowledged and are sent again after Wait.
	Messages int
	// MayDuplicate counts those a broker may have stored all the same:
	// each can be in the topic twice once resent.
	MayDuplicate int
	// Err is why the attempt failed.
	Err  error
	Wait time.Duration
}

// WriteOnce makes one attempt at writing msgs. On error it returns the
// messages that were not acknowledged (all of them when the client cannot
// tell which), so a caller with its own retry policy sends exactly those
// again. The error is a *WriteError, which counts those a broker may have
// stored all the same; one that retrying cannot fix matches retry.IsPermanent.
func WriteOnce(ctx context.Context, w MessageWriter, msgs []kafkago.Message) ([]kafkago.Message, error) {
	failed, err := writeOnce(ctx, w, msgs)
	if err == nil {
		return nil, nil
	}
	if len(failed) == len(msgs) {
		return msgs, err
	}
	return gather(msgs, failed), err
}

// writeOnce is WriteOnce returning the ascending indexes of the messages
// not acknowledged, from which WriteAll tells the acknowledged ones.
func writeOnce(ctx context.Context, w MessageWriter, msgs []kafkago.Message) ([]int, error) {
	err := w.WriteMessages(ctx, msgs...)
	if err == nil {
		return nil, nil
	}
	var werrs kafkago.WriteErrors
	if errors.As(err, &werrs) && len(werrs) == len(msgs) {
		var failed []int
		var first, firstPermanent error
		mayDuplicate := 0
		for i, e := range werrs {
			if e == nil {
				continue
			}
			failed = append(failed, i)
			if mayBeStored(e) {
				mayDuplicate++
			}
			if first == nil {
				first = e
			}
			if firstPermanent == nil && permanent(e) {
				firstPermanent = e
			}
		}
		if len(failed) == 0 { // no message failed: nothing to resend or count
			return nil, nil
		}
		if firstPermanent != nil {
			return failed, &WriteError{MayDuplicate: mayDuplicate, err: retry.Permanent(fmt.Errorf("write messages: %d of %d not written: %w", len(failed), len(msgs), firstPermanent))}
		}
		return failed, &WriteError{MayDuplicate: mayDuplicate, err: fmt.Errorf("write messages: %d of %d not written: %w", len(failed), len(msgs), first)}
	}
	// kafka-go fails a whole call only before it sends anything (a
	// message over BatchBytes, no metadata) or when ctx ends while the
	// batches are in flight; mayBeStored tells the two apart.
	all := make([]int, len(msgs))
	for i := range all {
		all[i] = i
	}
	mayDuplicate := 0
	if mayBeStored(err) {
		mayDuplicate = len(msgs)
	}
	if permanent(err) {
		var tooLarge kafkago.MessageTooLargeError
		if errors.As(err, &tooLarge) {
			err = fmt.Errorf("%w: message with key %q is %d bytes, over the writer's batch bytes (KAFKA_BATCH_BYTES)", err, tooLarge.Message.Key, messageSize(tooLarge.Message))
		}
		return all, &WriteError{MayDuplicate: mayDuplicate, err: retry.Permanent(fmt.Errorf("write messages: %w", err))}
	}
	return all, &WriteError{MayDuplicate: mayDuplicate, err: fmt.Errorf("write messages: %w", err)}
}
