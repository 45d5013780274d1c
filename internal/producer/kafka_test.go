package producer

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/orderpipe/orderpipe/internal/kafka"
	"github.com/orderpipe/orderpipe/internal/ops"
	"github.com/orderpipe/orderpipe/internal/order"
	"github.com/orderpipe/orderpipe/internal/servicetest"
	"github.com/orderpipe/orderpipe/internal/settings"
)

// recordingWriter remembers the keys its Writer reports acknowledged, so
// the test can compare them with what the topic holds.
type recordingWriter struct {
	out   Writer
	mu    sync.Mutex
	acked map[string]int
}

func (r *recordingWriter) WriteAll(ctx context.Context, msgs []kafkago.Message) ([]kafkago.Message, error) {
	acked, err := r.out.WriteAll(ctx, msgs)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range acked {
		r.acked[string(m.Key)]++
	}
	return acked, err
}

// kafkaProducer assembles a producer on the real broker as the producer
// command does (Assemble, from the defaults with change applied), with a
// recorder of what Kafka acknowledged between the producer and its writer.
func kafkaProducer(tb testing.TB, brokers []string, topic string, partitions int, change func(*Config)) (*Daemon, *recordingWriter) {
	tb.Helper()
	var cfg Config
	var wc kafka.WriterConfig
	if err := settings.Defaults(&cfg); err != nil {
		tb.Fatal(err)
	}
	if err := settings.Defaults(&wc); err != nil {
		tb.Fatal(err)
	}
	change(&cfg)
	rec := &recordingWriter{acked: make(map[string]int)}
	d, err := Assemble(Setup{
		Kafka: kafka.Config{Brokers: brokers, ClientID: "producer-test"}, Writer: wc,
		Topic: kafka.TopicSpec{Name: topic, Partitions: partitions, ReplicationFactor: 1}, Config: cfg,
	}, Options{
		Log:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Ready: ops.NewReadiness("starting"),
		Wrap:  func(w Writer) Writer { rec.out = w; return rec },
	})
	if err != nil {
		tb.Fatalf("assemble: %v", err)
	}
	return d, rec
}

func TestProduceOrdersToRealKafka(t *testing.T) {
	tests := []struct {
		name  string
		count int
		heavy bool
	}{
		{"3,000 orders", 3_000, false},
		{"50,000 orders", 50_000, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.heavy {
				servicetest.Heavy(t)
			}
			brokers := servicetest.KafkaBrokers(t)
			topic := servicetest.Name(t, "orders")
			const partitions = 6
			servicetest.CreateTopic(t, brokers, topic, partitions)
			d, rec := kafkaProducer(t, brokers, topic, partitions, func(c *Config) {
				c.Rate, c.Count = 0, int64(tc.count) // lanes: the default, one per partition
				c.LifecycleShare = 0                 // one message per order: ids map 1:1 to messages
			})
			p, out := d.Producer, d.Out
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			start := time.Now()
			if err := d.Run(ctx); err != nil {
				t.Fatalf("run: %v", err)
			}
			t.Logf("produced %d orders in %v", p.Stats.Produced.Load(), time.Since(start))
			if len(rec.acked) != tc.count || p.Stats.Produced.Load() != int64(tc.count) {
				t.Fatalf("acknowledged %d distinct ids, produced %d; want %d", len(rec.acked), p.Stats.Produced.Load(), tc.count)
			}
			// A healthy broker refuses at most the first writes to a
			// partition whose leader is still loading it (NOT_LEADER): no
			// resend can duplicate, so the topic must hold each order once.
			t.Logf("%d failed attempts", out.Stats.Failed.Load())
			if d := out.Stats.PossibleDuplicates.Load(); d != 0 {
				t.Fatalf("%d possible duplicates on a healthy broker", d)
			}
			checkTopicHoldsEachOnce(t, brokers, topic, partitions, rec.acked)
		})
	}
}

func checkTopicHoldsEachOnce(t *testing.T, brokers []string, topic string, partitions int, acked map[string]int) {
	t.Helper()
	msgs := servicetest.ReadAll(t, brokers, topic)
	if len(msgs) != len(acked) {
		t.Fatalf("topic holds %d messages, want exactly %d", len(msgs), len(acked))
	}
	perPartition := make(map[int]int)
	seen := make(map[string]bool, len(acked))
	for _, m := range msgs {
		o, err := order.Decode(m.Value)
		if err != nil {
			t.Fatalf("message at %d/%d does not decode: %v", m.Partition, m.Offset, err)
		}
		if string(m.Key) != o.OrderID {
			t.Fatalf("message key %q is not its order_id %q", m.Key, o.OrderID)
		}
		if acked[o.OrderID] != 1 || seen[o.OrderID] {
			t.Fatalf("order %s is in the topic but was acknowledged %d times (seen before: %v)", o.OrderID, acked[o.OrderID], seen[o.OrderID])
		}
		seen[o.OrderID] = true
		perPartition[m.Partition]++
	}
	for part := 0; part < partitions; part++ {
		// Keys hash evenly: each partition should hold about a sixth.
		if n := perPartition[part]; n < len(acked)/partitions/2 {
			t.Fatalf("partition %d holds %d messages: keys are not spread (%v)", part, n, perPartition)
		}
	}
}

// TestLanesThatDoNotMatchThePartitionsAreRefused: lanes sharing partitions
// (with 4 lanes on 6 partitions, partition 0 gets keys from lanes 0 and 2)
// could reorder an order's events on a retry, so Run
// stops at once with a usage error naming PRODUCER_LANES.
func TestLanesThatDoNotMatchThePartitionsAreRefused(t *testing.T) {
	brokers := servicetest.KafkaBrokers(t)
	topic := servicetest.Name(t, "lanes")
	servicetest.CreateTopic(t, brokers, topic, 6)
	d, _ := kafkaProducer(t, brokers, topic, 6, func(c *Config) { c.Lanes, c.Count = 4, 10 })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := d.Run(ctx)
	var se *settings.Error
	if !errors.As(err, &se) || se.Variable != "PRODUCER_LANES" || d.Producer.Stats.Produced.Load() != 0 {
		t.Fatalf("4 lanes on 6 partitions: error %v, %d produced; want a PRODUCER_LANES error before producing", err, d.Producer.Stats.Produced.Load())
	}
}
