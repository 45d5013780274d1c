package producer

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/internal/generator"
	"github.com/orderpipe/orderpipe/internal/kafka"
	"github.com/orderpipe/orderpipe/internal/servicetest"
)

// BenchmarkProduceToKafka measures end-to-end producing throughput into the
// real broker: generation, JSON, lz4 batches, acks from all replicas.
// Compare with Kafka's own ProducerPerformance: scripts/bench-producer.
func BenchmarkProduceToKafka(b *testing.B) {
	brokers := servicetest.KafkaBrokers(b)
	topic := servicetest.Name(b, "bench")
	servicetest.CreateTopic(b, brokers, topic, 6)
	w, err := kafka.NewWriter(kafka.Config{Brokers: brokers}, kafka.WriterConfig{
		Acks: "all", Compression: "lz4", BatchSize: 1000, BatchBytes: 1 << 20, BatchTimeout: 5 * time.Millisecond,
	}, topic)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	cfg := generator.DefaultConfig()
	cfg.Seed, cfg.LifecycleShare = 1, 0
	gen, err := generator.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	p, err := New(gen, &recordingWriter{w: w, acked: make(map[string]int)}, Settings{
		Count: int64(b.N), BatchSize: 1000, BatchBytes: 1 << 20, Linger: 5 * time.Millisecond, ShutdownTimeout: 10 * time.Second,
	}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	if err := p.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.ReportMetric(float64(p.Stats.Produced.Load())/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(p.Stats.Bytes.Load())/float64(p.Stats.Produced.Load()), "bytes/msg")
}
