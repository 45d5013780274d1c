package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"
)

// latency is row 2 at one rate: produced → searchable, measured from
// outside the consumer.
type latency struct {
	rate     int
	samples  int
	missing  int
	p50, p99 time.Duration
	max      time.Duration
	err      error
}

// How long sampled ids may take to appear once the producer is done, and
// how often Elasticsearch is asked.
const (
	missingAfter = 10 * time.Second
	pollEvery    = 50 * time.Millisecond
	samplesPerS  = 200
)

// searchLatency starts the consumer (defaults) on a fresh topic and index,
// waits until it owns the partitions, then produces at rate for
// -latency-seconds. A probe tails the topic and notes the Kafka timestamp
// (set by the producer's client when it writes the batch) of every k-th
// order, about 200 a second; a poller searches Elasticsearch for the noted
// ids that are not seen yet and takes the time each answer that first holds
// an id was received. Latency = that time − the Kafka timestamp, so a
// sample is late by at most one poll, never early.
func (b *bench) searchLatency(ctx context.Context, rate int) latency {
	l := latency{rate: rate}
	name := fmt.Sprintf("latency-%d", rate)
	topic := b.prefix + name
	b.logf("search latency at %d msgs/s for %d s", rate, b.opts.latencySeconds)
	if l.err = b.ensureTopic(ctx, topic); l.err != nil {
		return l
	}
	port, err := freePort()
	if err != nil {
		l.err = err
		return l
	}
	cons, err := b.start(ctx, name+"-consumer", b.bin("consumer"), nil, b.consumerEnv(topic, name, port))
	if err != nil {
		l.err = err
		return l
	}
	defer func() { _ = cons.stop() }() // a cleanup: the measurement has its result already
	if l.err = b.waitAssigned(ctx, cons, b.prefix+name, topic, 2*time.Minute); l.err != nil {
		return l
	}

	p := &probe{pending: map[string]time.Time{}, every: max(1, rate/samplesPerS)}
	probeCtx, stopProbe := context.WithCancel(ctx)
	defer stopProbe()
	var g errgroup.Group
	dialer, err := b.kafka.Dialer()
	if err != nil {
		l.err = err
		return l
	}
	for part := range 6 {
		g.Go(func() error { return p.tail(probeCtx, b.brokers, dialer, topic, part) })
	}
	g.Go(func() error { p.poll(probeCtx, b.es, b.prefix+name); return nil })

	pport, err := freePort()
	if err == nil {
		var prod *child
		count := rate * b.opts.latencySeconds
		if prod, err = b.start(ctx, name+"-producer", b.bin("producer"), nil, b.producerEnv(topic, pport, rate, count)); err == nil {
			err = prod.wait(ctx, 2*time.Duration(b.opts.latencySeconds)*time.Second+time.Minute)
		}
	}
	if err == nil {
		// Wait for the stragglers: until every sample is seen, or the
		// deadline makes the rest missing.
		deadline := time.Now().Add(missingAfter)
		for time.Now().Before(deadline) && p.outstanding() > 0 && ctx.Err() == nil {
			time.Sleep(pollEvery)
		}
	}
	stopProbe()
	if gerr := g.Wait(); err == nil && gerr != nil && probeCtx.Err() == nil {
		err = gerr
	}
	if err == nil {
		err = cons.stop()
	}
	if err != nil {
		l.err = err
		b.logf("search latency at %d msgs/s: FAILED: %v", rate, err)
		return l
	}
	l.samples, l.missing = len(p.latencies), len(p.pending)
	if l.samples == 0 {
		l.err = fmt.Errorf("no sample was seen in Elasticsearch (%d missing; log: %s)", l.missing, cons.logPath)
		return l
	}
	slices.Sort(p.latencies)
	l.p50, l.p99, l.max = percentile(p.latencies, 50), percentile(p.latencies, 99), p.latencies[len(p.latencies)-1]
	b.logf("search latency at %d msgs/s: %d samples, p50 %v, p99 %v, max %v, %d missing", rate, l.samples, l.p50, l.p99, l.max, l.missing)
	return l
}

// waitAssigned waits until the group is stable with the topic's partitions
// assigned, so that the consumer's start-up is not counted as latency.
func (b *bench) waitAssigned(ctx context.Context, c *child, group, topic string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		resp, err := b.client.DescribeGroups(ctx, &kafkago.DescribeGroupsRequest{GroupIDs: []string{group}})
		if err == nil {
			for _, g := range resp.Groups {
				if g.Error != nil || g.GroupState != "Stable" {
					continue
				}
				for _, m := range g.Members {
					for _, t := range m.MemberAssignments.Topics {
						if t.Topic == topic && len(t.Partitions) > 0 {
							return nil
						}
					}
				}
			}
		}
		if !c.running() {
			return fmt.Errorf("%s exited before joining its group: %w (log: %s)", c.name, because(c.err), c.logPath)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: group %s not stable after %v (last error: %w)", c.name, group, timeout, because(err))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// probe holds the sampled ids not yet seen in Elasticsearch and the
// latencies of those that were.
type probe struct {
	every     int // sample every every-th message of a partition
	mu        sync.Mutex
	pending   map[string]time.Time // order_id → Kafka timestamp
	latencies []time.Duration
}

func (p *probe) outstanding() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pending)
}

// tail reads one partition from its start until ctx ends and notes every
// every-th order. The key is the order_id, so nothing is decoded. A short
// MaxWait keeps the probe from learning of an id after it is searchable.
func (p *probe) tail(ctx context.Context, brokers string, dialer *kafkago.Dialer, topic string, partition int) error {
	rd := kafkago.NewReader(kafkago.ReaderConfig{
		Brokers: []string{brokers}, Topic: topic, Partition: partition, Dialer: dialer,
		MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 50 * time.Millisecond,
	})
	defer rd.Close()
	for n := 0; ; n++ {
		m, err := rd.ReadMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("probe %s/%d: %w", topic, partition, err)
		}
		if n%p.every != 0 {
			continue
		}
		p.mu.Lock()
		p.pending[string(m.Key)] = m.Time
		p.mu.Unlock()
	}
}

// poll asks Elasticsearch for the pending ids every pollEvery until ctx
// ends. A failed search is tried again at the next poll: the ids stay
// pending and become missing if they never show.
func (p *probe) poll(ctx context.Context, es *esClient, index string) {
	const most = 5000 // ids per search, well under the terms limit
	ids := make([]string, 0, most)
	for ctx.Err() == nil {
		ids = ids[:0]
		p.mu.Lock()
		for id := range p.pending {
			if len(ids) == most {
				break
			}
			ids = append(ids, id)
		}
		p.mu.Unlock()
		if len(ids) > 0 {
			seen, err := es.searchIDs(ctx, index, ids)
			received := time.Now()
			if err == nil {
				p.mu.Lock()
				for _, id := range seen {
					if at, ok := p.pending[id]; ok {
						p.latencies = append(p.latencies, received.Sub(at))
						delete(p.pending, id)
					}
				}
				p.mu.Unlock()
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(pollEvery):
		}
	}
}

func (l latency) row() row {
	r := row{measure: fmt.Sprintf("Search latency at %s msgs/s (produced → searchable)", fmtInt(float64(l.rate)))}
	if l.rate == 1000 {
		r.goal = "p99 ≤ 1.5 s"
	}
	if l.err != nil {
		return r.fail(l.err)
	}
	r.result = fmt.Sprintf("p50 %s, **p99 %s**, max %s (%d samples, %d missing)", fmtSec(l.p50), fmtSec(l.p99), fmtSec(l.max), l.samples, l.missing)
	if r.goal == "" {
		r.goal = "—"
		r.verdict = "—"
		if l.missing > 0 {
			r.verdict = "missing ids"
		}
		return r
	}
	return r.judge(l.p99 <= 1500*time.Millisecond && l.missing == 0)
}
