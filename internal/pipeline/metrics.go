package pipeline

import (
	"slices"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orderpipe/orderpipe/internal/ops"
)

// Metrics are the consumer's Prometheus series.
type Metrics struct {
	Consumed       prometheus.Counter
	Indexed        prometheus.Counter
	Conflicts      prometheus.Counter
	Superseded     prometheus.Counter
	DeadLettered   *prometheus.CounterVec
	Retries        *prometheus.CounterVec
	CommitFailures prometheus.Counter
	BulkDuration   prometheus.Histogram
	EndToEnd       prometheus.Histogram
	Lag            *prometheus.GaugeVec
	InFlight       prometheus.Gauge
}

// NewMetrics creates the series and registers them on reg (nil: not
// registered, for tests that run several pipelines in one process).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	const ns, sub = "orderpipe", "consumer"
	m := &Metrics{
		Consumed:   prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "consumed_total", Help: "Messages fetched from Kafka."}),
		Indexed:    prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "indexed_total", Help: "Documents Elasticsearch stored (2xx)."}),
		Conflicts:  prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "conflicts_total", Help: "Documents Elasticsearch already held at this or a newer version (409, handled)."}),
		Superseded: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "superseded_total", Help: "Messages not sent because a newer version of the order was in the same batch."}),
		DeadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "dead_lettered_total",
			Help: "Messages written to the dead-letter topic, by reason (malformed, invalid, rejected)."}, []string{"reason"}),
		Retries: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "retries_total",
			Help: "Documents or messages sent again, by cause (too_many_requests, server_error, unavailable, forbidden, dlq_write)."}, []string{"cause"}),
		CommitFailures: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "commit_failures_total",
			Help: "Offset commits Kafka refused (usually a rebalance); the messages are delivered again."}),
		BulkDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "bulk_duration_seconds",
			Help: "Duration of one _bulk request.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)}),
		EndToEnd: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "end_to_end_latency_seconds",
			Help: "Time from an order's updated_at to its indexing.", Buckets: latencyBuckets}),
		Lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "lag",
			Help: "Messages not yet committed by the group, per partition (end offset − committed offset)."}, []string{"partition"}),
		InFlight: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "in_flight_messages",
			Help: "Messages sent to Elasticsearch or the dead-letter topic and not handled yet, over all batches in flight."}),
	}
	if reg != nil {
		reg.MustRegister(m.Consumed, m.Indexed, m.Conflicts, m.Superseded, m.DeadLettered, m.Retries,
			m.CommitFailures, m.BulkDuration, m.EndToEnd, m.Lag, m.InFlight)
	}
	return m
}

// latencyBuckets resolve the sub-second range where a consumer keeping up
// lives (one bulk round trip), and still reach minutes for catch-up.
var latencyBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75,
	1, 1.5, 2, 3, 5, 10, 30, 60, 120, 300}

func partitionLabel(p int) string { return strconv.Itoa(p) }

// Health combines the reasons several parts of the consumer may have for not
// being ready (Elasticsearch failing, Kafka failing, start-up) into one
// ops.Readiness: ready only when none has a reason.
type Health struct {
	mu      sync.Mutex
	reasons map[string]string
	order   []string
	r       *ops.Readiness
}

// NewHealth drives r. Components start with no reason.
func NewHealth(r *ops.Readiness) *Health {
	h := &Health{reasons: map[string]string{}, r: r}
	h.publish()
	return h
}

// Set records component's reason for not being ready; "" clears it.
func (h *Health) Set(component, reason string) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if reason != "" && !slices.Contains(h.order, component) {
		h.order = append(h.order, component)
	}
	if reason == "" {
		delete(h.reasons, component)
	} else {
		h.reasons[component] = reason
	}
	h.publish()
}

// Reason is what /readyz reports, "" when ready.
func (h *Health) Reason() string {
	if h == nil {
		return ""
	}
	return h.r.Reason()
}

func (h *Health) publish() {
	var s string
	for _, c := range h.order {
		if r, ok := h.reasons[c]; ok {
			if s != "" {
				s += "; "
			}
			s += r
		}
	}
	if s == "" {
		h.r.Ready()
	} else {
		h.r.NotReady(s)
	}
}
