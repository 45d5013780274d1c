package dashboard

import (
	"context"
	"sort"
	"strconv"
	"sync"

	"github.com/orderpipe/orderpipe/internal/kafka"
)

// ProducedTotal is the producer's series the page reads its rate from;
// cmd/producer's test checks its /metrics serves it (the consumer's series
// are internal/pipeline's, which this package's tests serve for real).
const ProducedTotal = "orderpipe_producer_produced_total"

// The consumer's series the page reads, as internal/pipeline names them.
const (
	consumedTotal    = "orderpipe_consumer_consumed_total"
	indexedTotal     = "orderpipe_consumer_indexed_total"
	deadLetterTotal  = "orderpipe_consumer_dead_lettered_total"
	endToEndLatency  = "orderpipe_consumer_end_to_end_latency_seconds"
	deadLetterReason = "reason"
)

// Daemon is what the page shows of one producer or consumer.
type Daemon struct {
	URL   string `json:"url"`
	Up    bool   `json:"up"`
	Error string `json:"error,omitempty"`
	// Ready is the answer of /readyz, Reason its text when not ready.
	Ready  bool   `json:"ready"`
	Reason string `json:"reason,omitempty"`
	// Rate is messages per second since the previous scrape (produced for
	// a producer, indexed for a consumer); null until there is one.
	Rate     *float64 `json:"rate"`
	Consumed *float64 `json:"consumed_rate,omitempty"`
	Total    float64  `json:"total"`
	// P50/P99 end-to-end latency in seconds (consumers), over the scrapes'
	// interval when orders were indexed in it, else since the daemon started.
	P50 *float64 `json:"p50,omitempty"`
	P99 *float64 `json:"p99,omitempty"`
	// P50Above/P99Above: the quantile is past the histogram's last bound
	// (P50/P99 hold that bound), as after a backfill of old orders.
	P50Above      bool               `json:"p50_above,omitempty"`
	P99Above      bool               `json:"p99_above,omitempty"`
	LatencyWindow string             `json:"latency_window,omitempty"`
	DeadLetters   map[string]float64 `json:"dead_letters,omitempty"`
}

// PartitionLag is the group's lag on one partition.
type PartitionLag struct {
	Partition int   `json:"partition"`
	Lag       int64 `json:"lag"`
}

// Health is the pipeline's state: the daemons' own view and Kafka's.
type Health struct {
	Producers []Daemon       `json:"producers"`
	Consumers []Daemon       `json:"consumers"`
	Group     string         `json:"group"`
	Lag       []PartitionLag `json:"lag"`
	LagError  string         `json:"lag_error,omitempty"`
	DLQTopic  string         `json:"dlq_topic"`
	DLQ       int64          `json:"dlq_messages"`
	DLQError  string         `json:"dlq_error,omitempty"`
}

// daemon scrapes t and fills what the page shows of it.
func daemon(ctx context.Context, t *target, consumer bool) Daemon {
	d := Daemon{URL: t.metricsURL}
	cur, prev, err := t.scrape(ctx)
	if err != nil {
		d.Error = err.Error()
		return d
	}
	d.Up = true
	if ready, reason, err := t.ready(ctx); err != nil {
		d.Reason = err.Error()
	} else {
		d.Ready = ready
		if !ready {
			d.Reason = reason
		}
	}
	counter := ProducedTotal
	if consumer {
		counter = indexedTotal
	}
	d.Total, _ = cur.counter(counter)
	if r, ok := rate(counter, cur, prev); ok {
		d.Rate = &r
	}
	if !consumer {
		return d
	}
	if r, ok := rate(consumedTotal, cur, prev); ok {
		d.Consumed = &r
	}
	d.DeadLetters = cur.byLabel(deadLetterTotal, deadLetterReason)
	buckets, count := cur.histogram(endToEndLatency)
	d.LatencyWindow = "since start"
	if prev != nil {
		pb, pc := prev.histogram(endToEndLatency)
		if count > pc {
			for ub := range buckets {
				buckets[ub] -= pb[ub]
			}
			count -= pc
			d.LatencyWindow = "last " + strconv.FormatFloat(cur.at.Sub(prev.at).Seconds(), 'f', 1, 64) + " s"
		}
	}
	if p, above, ok := quantile(0.5, buckets, count); ok {
		d.P50, d.P50Above = &p, above
	}
	if p, above, ok := quantile(0.99, buckets, count); ok {
		d.P99, d.P99Above = &p, above
	}
	return d
}

// health gathers every daemon's view and Kafka's at once.
func (s *Server) health(ctx context.Context) Health {
	h := Health{Group: s.cfg.Group, DLQTopic: s.cfg.DLQTopic, Lag: []PartitionLag{},
		Producers: make([]Daemon, len(s.producers)), Consumers: make([]Daemon, len(s.consumers))}
	var wg sync.WaitGroup
	for i, t := range s.producers {
		wg.Go(func() { h.Producers[i] = daemon(ctx, t, false) })
	}
	for i, t := range s.consumers {
		wg.Go(func() { h.Consumers[i] = daemon(ctx, t, true) })
	}
	if s.admin != nil {
		wg.Go(func() {
			lag, err := s.admin.GroupLag(ctx, s.cfg.Group, s.cfg.Topic)
			if err != nil {
				h.LagError = kafka.ConnectError(err).Error()
				return
			}
			for p, l := range lag {
				h.Lag = append(h.Lag, PartitionLag{Partition: p, Lag: l})
			}
			sort.Slice(h.Lag, func(i, j int) bool { return h.Lag[i].Partition < h.Lag[j].Partition })
		})
		wg.Go(func() {
			ranges, err := s.admin.Offsets(ctx, s.cfg.DLQTopic)
			if err != nil {
				h.DLQError = err.Error()
				return
			}
			for _, r := range ranges {
				h.DLQ += r.Len()
			}
		})
	}
	wg.Wait()
	return h
}
