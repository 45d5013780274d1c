package producer

import (
	"context"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/internal/servicetest"
)

// BenchmarkProduceToKafka measures end-to-end producing throughput into the
// real broker: generation, JSON, lz4 batches, acks from all replicas.
// make bench compares the binary with Kafka's own ProducerPerformance.
func BenchmarkProduceToKafka(b *testing.B) {
	brokers := servicetest.KafkaBrokers(b)
	topic := servicetest.Name(b, "bench")
	servicetest.CreateTopic(b, brokers, topic, 6)
	d, _ := kafkaProducer(b, brokers, topic, 6, func(c *Config) {
		c.Rate, c.Count, c.Seed, c.LifecycleShare = 0, int64(b.N), 1, 0
	})
	p := d.Producer
	b.ResetTimer()
	start := time.Now()
	if err := d.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.ReportMetric(float64(p.Stats.Produced.Load())/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(p.Stats.Bytes.Load())/float64(p.Stats.Produced.Load()), "bytes/msg")
}
