package producer

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/orderpipe/orderpipe/internal/generator"
	"github.com/orderpipe/orderpipe/internal/kafka"
	"github.com/orderpipe/orderpipe/internal/order"
	"github.com/orderpipe/orderpipe/internal/servicetest"
)

// recordingWriter writes to the real broker and remembers the keys Kafka
// acknowledged, so the test can compare them with what the topic holds.
type recordingWriter struct {
	w     *kafkago.Writer
	mu    sync.Mutex
	acked map[string]int
}

func (r *recordingWriter) WriteAll(ctx context.Context, msgs []kafkago.Message) ([]kafkago.Message, error) {
	acked, err := kafka.WriteAll(ctx, r.w, msgs, nil)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range acked {
		r.acked[string(m.Key)]++
	}
	return acked, err
}

func TestProduce50000OrdersToRealKafka(t *testing.T) {
	servicetest.Heavy(t)
	brokers := servicetest.KafkaBrokers(t)
	topic := servicetest.Name(t, "orders")
	const partitions = 6
	servicetest.CreateTopic(t, brokers, topic, partitions)

	cfg := kafka.Config{Brokers: brokers, ClientID: "producer-test"}
	w, err := kafka.NewWriter(cfg, kafka.WriterConfig{
		Acks: "all", Compression: "lz4", BatchSize: 1000, BatchBytes: 1 << 20, BatchTimeout: 5 * time.Millisecond,
	}, topic)
	if err != nil {
		t.Fatalf("new writer: %v", err)
	}
	t.Cleanup(func() { w.Close() })
	rec := &recordingWriter{w: w, acked: make(map[string]int)}

	gcfg := generator.DefaultConfig()
	gcfg.LifecycleShare = 0 // one message per order: ids map 1:1 to messages
	gen, err := generator.New(gcfg)
	if err != nil {
		t.Fatalf("new generator: %v", err)
	}
	const count = 50_000
	p, err := New(gen, rec, Settings{Count: count, BatchSize: 1000, Linger: 5 * time.Millisecond, ShutdownTimeout: 10 * time.Second},
		slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatalf("new producer: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	if err := p.Run(ctx); err != nil {
		t.Fatalf("run: %v", err)
	}
	t.Logf("produced %d orders in %v", p.Stats.Produced.Load(), time.Since(start))
	if len(rec.acked) != count || p.Stats.Produced.Load() != count {
		t.Fatalf("acknowledged %d distinct ids, produced %d; want %d", len(rec.acked), p.Stats.Produced.Load(), count)
	}

	msgs := servicetest.ReadAll(t, brokers, topic)
	if len(msgs) != count {
		t.Fatalf("topic holds %d messages, want exactly %d", len(msgs), count)
	}
	perPartition := make(map[int]int)
	seen := make(map[string]bool, count)
	for _, m := range msgs {
		o, err := order.Decode(m.Value)
		if err != nil {
			t.Fatalf("message at %d/%d does not decode: %v", m.Partition, m.Offset, err)
		}
		if string(m.Key) != o.OrderID {
			t.Fatalf("message key %q is not its order_id %q", m.Key, o.OrderID)
		}
		if rec.acked[o.OrderID] != 1 || seen[o.OrderID] {
			t.Fatalf("order %s is in the topic but was acknowledged %d times (seen before: %v)", o.OrderID, rec.acked[o.OrderID], seen[o.OrderID])
		}
		seen[o.OrderID] = true
		perPartition[m.Partition]++
	}
	for part := 0; part < partitions; part++ {
		// Keys hash evenly: each partition should hold about a sixth.
		if n := perPartition[part]; n < count/partitions/2 {
			t.Fatalf("partition %d holds %d messages: keys are not spread (%v)", part, n, perPartition)
		}
	}
}
