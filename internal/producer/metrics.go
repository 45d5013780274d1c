package producer

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/orderpipe/orderpipe/internal/generator"
)

// metrics are the producer's Prometheus series.
type metrics struct {
	produced     prometheus.Counter
	bytes        prometheus.Counter
	failed       prometheus.Counter
	duplicates   prometheus.Counter
	events       *prometheus.CounterVec
	batchLatency prometheus.Histogram
	batchSize    prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		produced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "orderpipe_producer_produced_total", Help: "Messages acknowledged by Kafka."}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "orderpipe_producer_bytes_total", Help: "Value bytes acknowledged by Kafka."}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "orderpipe_producer_failed_total", Help: "Message write attempts that failed and were retried."}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "orderpipe_producer_possible_duplicates_total",
			Help: "Messages resent after an attempt a broker may have stored all the same (answer lost or late): the most duplicates retries can have added to the topic."}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orderpipe_producer_generated_total", Help: "Events generated, by order status (malformed for broken messages)."},
			[]string{"status"}),
		batchLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "orderpipe_producer_batch_duration_seconds", Help: "Time to get a batch acknowledged, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "orderpipe_producer_batch_messages", Help: "Messages per batch.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8)}),
	}
	reg.MustRegister(m.produced, m.bytes, m.failed, m.duplicates, m.events, m.batchLatency, m.batchSize)
	return m
}

func (m *metrics) BatchWritten(msgs []kafkago.Message, took time.Duration) {
	m.produced.Add(float64(len(msgs)))
	var n int
	for _, msg := range msgs {
		n += len(msg.Value)
	}
	m.bytes.Add(float64(n))
	m.batchLatency.Observe(took.Seconds())
	m.batchSize.Observe(float64(len(msgs)))
}

func (m *metrics) Generated(ev generator.Event) {
	status := string(ev.Status)
	if ev.Malformed != "" {
		status = "malformed"
	}
	m.events.WithLabelValues(status).Inc()
}

func (m *metrics) Resending(messages, mayDuplicate int) {
	m.failed.Add(float64(messages))
	m.duplicates.Add(float64(mayDuplicate))
}
