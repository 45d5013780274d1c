package dashboard

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/orderpipe/orderpipe/internal/ops"
	"github.com/orderpipe/orderpipe/internal/pipeline"
	"github.com/orderpipe/orderpipe/internal/servicetest"
)

// daemons are a producer's and a consumer's real ops listeners (internal/ops)
// serving the consumer's real series (internal/pipeline) and the producer's
// produced counter, which the test moves as the daemons would.
type daemons struct {
	producerURL, consumerURL string
	produced                 prometheus.Counter
	consumer                 *pipeline.Metrics
	consumerReady            *ops.Readiness
}

func startDaemons(t *testing.T) *daemons {
	t.Helper()
	d := &daemons{}
	serve := func(reg *prometheus.Registry, ready *ops.Readiness) string {
		srv, err := ops.Listen("127.0.0.1:0", reg, ready)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- srv.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		return "http://" + srv.Addr() + "/metrics"
	}
	preg := prometheus.NewRegistry()
	d.produced = prometheus.NewCounter(prometheus.CounterOpts{Name: ProducedTotal, Help: "test"})
	preg.MustRegister(d.produced)
	pready := ops.NewReadiness("")
	pready.Ready()
	d.producerURL = serve(preg, pready)

	creg := prometheus.NewRegistry()
	d.consumer = pipeline.NewMetrics(creg)
	d.consumerReady = ops.NewReadiness("starting")
	d.consumerURL = serve(creg, d.consumerReady)
	return d
}

// tick moves the counters as a running pipeline would: n orders produced
// and indexed, latencies of 50-150 ms, a dead letter every tenth.
func (d *daemons) tick(n int) {
	d.produced.Add(float64(n))
	d.consumer.Consumed.Add(float64(n))
	d.consumer.Indexed.Add(float64(n))
	for i := range n {
		d.consumer.EndToEnd.Observe(0.05 + 0.1*float64(i)/float64(n))
		if i%10 == 0 {
			d.consumer.DeadLettered.WithLabelValues("malformed").Inc()
		}
	}
}

// kafkaTopics creates an orders topic with messages no group has read and
// a dead-letter topic holding dlq messages; it returns their names.
func kafkaTopics(t *testing.T, orders, dlq int) (topic, dlqTopic string) {
	t.Helper()
	_, brokers := kafkaAdmin(t)
	topic, dlqTopic = servicetest.Name(t, "orders"), servicetest.Name(t, "dlq")
	servicetest.CreateTopic(t, brokers, topic, 3)
	servicetest.CreateTopic(t, brokers, dlqTopic, 1)
	w := &kafkago.Writer{Addr: kafkago.TCP(brokers...), Balancer: &kafkago.RoundRobin{}, BatchTimeout: 10 * time.Millisecond, RequiredAcks: kafkago.RequireAll}
	defer w.Close()
	var msgs []kafkago.Message
	for i := range orders {
		msgs = append(msgs, kafkago.Message{Topic: topic, Value: fmt.Appendf(nil, `{"n":%d}`, i)})
	}
	for i := range dlq {
		msgs = append(msgs, kafkago.Message{Topic: dlqTopic, Value: fmt.Appendf(nil, `{"dead":%d}`, i)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("write messages: %v", err)
	}
	return topic, dlqTopic
}

// TestHealth: /api/health reads the daemons' real /metrics and /readyz, and
// the group's lag and the dead-letter topic from the real Kafka.
func TestHealth(t *testing.T) {
	d := startDaemons(t)
	topic, dlq := kafkaTopics(t, 30, 4)
	admin, _ := kafkaAdmin(t)
	ix := &esIndex{t: t, name: "orders"}
	o := Options{ES: ix.client(deadAddr(t)), Admin: admin}
	o.Topic, o.DLQTopic, o.Group = topic, dlq, servicetest.Name(t, "group")
	o.ProducerMetrics = []string{d.producerURL}
	o.ConsumerMetrics = []string{d.consumerURL, deadAddr(t) + "/metrics"}
	srv := start(t, o)

	d.tick(100)
	// A group Kafka has not seen yet may first meet a coordinator that is
	// still loading: the page shows that error and the next refresh the lag.
	var h Health
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if code := getJSON(t, srv, "/api/health", &h); code != http.StatusOK {
			t.Fatalf("HTTP %d", code)
		}
		if h.LagError == "" || time.Now().After(deadline) {
			break
		}
	}
	c := h.Consumers[0]
	if !c.Up || c.Ready || c.Reason != "not ready: starting" || c.Total != 100 {
		t.Errorf("first scrape of the consumer: %+v, want up, not ready (starting), total 100", c)
	}
	if gone := h.Consumers[1]; gone.Up || gone.Error == "" {
		t.Errorf("a consumer nothing listens for: %+v, want down with the error", gone)
	}
	if c.DeadLetters["malformed"] != 10 {
		t.Errorf("dead letters %v, want malformed: 10", c.DeadLetters)
	}
	if h.DLQ != 4 || h.DLQError != "" {
		t.Errorf("DLQ %d (%s), want the 4 messages of %s", h.DLQ, h.DLQError, dlq)
	}
	var lag int64
	for _, l := range h.Lag {
		lag += l.Lag
	}
	if len(h.Lag) != 3 || lag != 30 || h.LagError != "" {
		t.Errorf("lag %v (%s), want 3 partitions summing to the 30 unread messages", h.Lag, h.LagError)
	}

	time.Sleep(1100 * time.Millisecond) // a rate needs two scrapes a second apart
	d.consumerReady.Ready()
	d.tick(50)
	if code := getJSON(t, srv, "/api/health", &h); code != http.StatusOK {
		t.Fatalf("HTTP %d", code)
	}
	c, p := h.Consumers[0], h.Producers[0]
	if !c.Ready || c.Rate == nil || *c.Rate <= 0 || p.Rate == nil || *p.Rate <= 0 || !p.Ready {
		t.Fatalf("second scrape: consumer %+v producer %+v, want both ready with a positive rate", c, p)
	}
	if c.P50 == nil || c.P99 == nil || *c.P50 < 0.05 || *c.P50 > 0.15 || *c.P99 < *c.P50 || *c.P99 > 0.15 || c.LatencyWindow == "since start" {
		t.Errorf("latency p50 %v p99 %v (%s), want within the observed 50-150 ms over the last scrapes", c.P50, c.P99, c.LatencyWindow)
	}
}

func TestQuantile(t *testing.T) {
	inf := math.Inf(1)
	for _, tc := range []struct {
		name    string
		q       float64
		buckets map[float64]float64
		count   float64
		want    float64
		above   bool
		ok      bool
	}{
		{"empty", 0.5, map[float64]float64{1: 0, inf: 0}, 0, 0, false, false},
		{"middle of the first bucket", 0.5, map[float64]float64{1: 10, 2: 10, inf: 10}, 10, 0.5, false, true},
		{"linear in the second bucket", 0.75, map[float64]float64{1: 5, 2: 10, inf: 10}, 10, 1.5, false, true},
		{"beyond the last bound is the last bound, marked above", 0.99, map[float64]float64{1: 5, 2: 5, inf: 10}, 10, 2, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, above, ok := quantile(tc.q, tc.buckets, tc.count)
			if ok != tc.ok || above != tc.above || math.Abs(got-tc.want) > 1e-9 {
				t.Errorf("quantile(%v) = %v, %v, %v; want %v, %v, %v", tc.q, got, above, ok, tc.want, tc.above, tc.ok)
			}
		})
	}
}

// TestBaselineIsASecondOld: quick successive scrapes are compared with one
// at least a second older; the kept scrapes are bounded to a minute.
func TestBaselineIsASecondOld(t *testing.T) {
	tg := &target{}
	t0 := time.Now()
	at := func(d time.Duration) sample { return sample{at: t0.Add(d)} }
	for _, tc := range []struct {
		now  time.Duration
		want time.Duration // -1: none
	}{
		{0, -1},
		{300 * time.Millisecond, 0}, // none a second old yet: the oldest
		{1200 * time.Millisecond, 0},
		{1500 * time.Millisecond, 300 * time.Millisecond},
		{1600 * time.Millisecond, 300 * time.Millisecond},
		{3 * time.Second, 1600 * time.Millisecond},
		{2 * time.Minute, 3 * time.Second},
	} {
		got := tg.baseline(at(tc.now))
		switch {
		case tc.want < 0 && got != nil:
			t.Errorf("at %v: baseline %v, want none", tc.now, got.at.Sub(t0))
		case tc.want >= 0 && (got == nil || got.at.Sub(t0) != tc.want):
			t.Errorf("at %v: baseline %v, want %v", tc.now, got, tc.want)
		}
	}
	if len(tg.recent) != 1 {
		t.Errorf("%d scrapes kept after two minutes, want the last only", len(tg.recent))
	}
}
