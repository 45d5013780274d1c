package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/orderpipe/orderpipe/internal/kafka"
)

// throughput is row 1: the consumer binary against a plain Kafka → _bulk
// loop on the same topic.
type throughput struct {
	topic    string
	ranges   []kafka.PartitionRange
	messages int64 // in the topic: orders, plus any duplicate a retried write left
	consumer []consumerRun
	ceiling  []ceilingRun
	maxRSS   int64 // the consumer's peak over its timed runs
	err      error // the topic could not be filled: nothing else ran
}

type consumerRun struct {
	rate    float64
	elapsed time.Duration
	err     error
}

type ceilingRun struct {
	workers, batch int
	rate           float64
	err            error
}

func (b *bench) consumerThroughput(ctx context.Context) throughput {
	t := throughput{topic: b.prefix + "throughput"}
	if t.err = b.fill(ctx, &t); t.err != nil {
		b.logf("consumer throughput: %v", t.err)
		return t
	}
	// A first pass over a fresh topic pays for cold JIT and page caches in
	// both servers; it is not counted, so neither side draws it.
	if _, err := b.ceilingRun(ctx, t.topic, t.ranges, t.messages, b.opts.gridWorkers[0], b.opts.gridBatches[0]); err != nil {
		b.logf("warm-up: %v", err)
	}
	var grid []ceilingRun
	for _, w := range b.opts.gridWorkers {
		for _, n := range b.opts.gridBatches {
			grid = append(grid, ceilingRun{workers: w, batch: n})
		}
	}
	// Consumer runs are spread through the grid, so a drift of the
	// machine's speed during the row touches both sides alike.
	const consumerRuns = 3
	next := 0
	for i := range consumerRuns {
		t.consumer = append(t.consumer, b.timedConsumer(ctx, &t, fmt.Sprintf("consumer-%d", i+1)))
		for end := (i + 1) * len(grid) / (consumerRuns - 1); next < min(end, len(grid)); next++ {
			if ctx.Err() != nil {
				return t
			}
			c := grid[next]
			c.rate, c.err = b.ceilingRun(ctx, t.topic, t.ranges, t.messages, c.workers, c.batch)
			if c.err != nil {
				b.logf("ceiling workers=%d batch=%d: FAILED: %v", c.workers, c.batch, c.err)
			} else {
				b.logf("ceiling workers=%d batch=%d: %.0f msgs/s", c.workers, c.batch, c.rate)
			}
			t.ceiling = append(t.ceiling, c)
		}
	}
	return t
}

// fill writes -orders orders, one message each, with the producer binary at
// full speed.
func (b *bench) fill(ctx context.Context, t *throughput) error {
	n := b.opts.orders
	b.logf("consumer throughput: filling %s with %d orders", t.topic, n)
	b.topics = append(b.topics, t.topic)
	port, err := freePort()
	if err != nil {
		return err
	}
	c, err := b.start(ctx, "fill-producer", b.bin("producer"), nil, b.producerEnv(t.topic, port, 0, n))
	if err != nil {
		return err
	}
	if err := c.wait(ctx, 5*time.Minute+time.Duration(n/2000)*time.Second); err != nil {
		return err
	}
	if t.ranges, err = b.admin.Offsets(ctx, t.topic); err != nil {
		return err
	}
	for _, r := range t.ranges {
		t.messages += r.Len()
	}
	if t.messages < int64(n) {
		return fmt.Errorf("topic %s holds %d messages, want at least %d", t.topic, t.messages, n)
	}
	return nil
}

func (b *bench) producerEnv(topic, opsAddr string, rate, count int) []string {
	return []string{
		"KAFKA_BROKERS=" + b.brokers, "KAFKA_TOPIC=" + topic, "OPS_ADDR=" + opsAddr, "LOG_LEVEL=info",
		"PRODUCER_RATE=" + strconv.Itoa(rate), "PRODUCER_COUNT=" + strconv.Itoa(count),
		"PRODUCER_SEED=" + strconv.FormatInt(b.seed, 10),
		"PRODUCER_LIFECYCLE_SHARE=0", "PRODUCER_MALFORMED_SHARE=0",
	}
}

// consumerEnv runs the consumer with its defaults except for the names,
// which are this run's own.
func (b *bench) consumerEnv(topic, name, opsAddr string) []string {
	return []string{
		"KAFKA_BROKERS=" + b.brokers, "KAFKA_TOPIC=" + topic, "CONSUMER_GROUP=" + b.prefix + name,
		"DLQ_TOPIC=" + b.prefix + "dlq", "ES_ADDRESSES=" + b.esURL, "ES_INDEX=" + b.prefix + name,
		"ES_TEMPLATE_NAME=" + b.templateName, "ES_TEMPLATE_FILE=" + b.templateFile,
		"OPS_ADDR=" + opsAddr, "LOG_LEVEL=info",
	}
}

// timedConsumer runs the consumer binary over the whole topic. Its rate is
// the topic's messages over the time from the first message consumed (its
// /metrics polled every 50 ms) until the group's committed offsets reach the
// end of every partition (polled every 50 ms): start-up and group join are
// not counted, the final commit is.
func (b *bench) timedConsumer(ctx context.Context, t *throughput, name string) consumerRun {
	var r consumerRun
	if ctx.Err() != nil {
		r.err = ctx.Err()
		return r
	}
	b.topics = append(b.topics, b.prefix+"dlq")
	r.elapsed, r.err = b.consumeAll(ctx, t, name, false, nil)
	if r.err == nil {
		r.rate = float64(t.messages) / r.elapsed.Seconds()
		b.logf("%s: %d messages in %.2f s = %.0f msgs/s", name, t.messages, r.elapsed.Seconds(), r.rate)
	} else {
		b.logf("%s: FAILED: %v", name, r.err)
	}
	return r
}

// consumeAll starts a consumer with a fresh group and index on t's topic,
// calls during (if set) once it consumes, waits until it has committed
// everything, stops it, and checks that the index holds every order.
func (b *bench) consumeAll(ctx context.Context, t *throughput, name string, pprof bool, during func(addr string) error) (time.Duration, error) {
	port, err := freePort()
	if err != nil {
		return 0, err
	}
	env := b.consumerEnv(t.topic, name, port)
	if pprof {
		env = append(env, "OPS_PPROF=true")
	}
	c, err := b.start(ctx, name, b.bin("consumer"), nil, env)
	if err != nil {
		return 0, err
	}
	defer func() { _ = c.stop() }() // a cleanup: the measurement has its result already
	first, err := waitFirst(ctx, c, port, "orderpipe_consumer_consumed_total", 2*time.Minute)
	if err != nil {
		return 0, err
	}
	if during != nil {
		if err := during(port); err != nil {
			return 0, err
		}
	}
	last, err := b.waitCommitted(ctx, c, b.prefix+name, t, 2*time.Minute+time.Duration(b.opts.orders/1000)*time.Second)
	if err != nil {
		return 0, err
	}
	if err := c.stop(); err != nil {
		return 0, err
	}
	if !pprof {
		t.maxRSS = max(t.maxRSS, c.maxRSS())
	}
	return last.Sub(first), b.checkCount(ctx, b.prefix+name)
}

// waitCommitted polls the group's committed offsets every 50 ms until every
// partition's reaches its end, and returns when the poll that saw it was
// answered.
func (b *bench) waitCommitted(ctx context.Context, c *child, group string, t *throughput, timeout time.Duration) (time.Time, error) {
	parts := make([]int, len(t.ranges))
	for i, r := range t.ranges {
		parts[i] = r.Partition
	}
	return c.pollUntil(ctx, "every offset committed", timeout, func() (bool, error) {
		offs, err := b.admin.GroupOffsets(ctx, group, t.topic, parts)
		if err != nil {
			return false, err
		}
		for _, r := range t.ranges {
			if offs[r.Partition] < r.End {
				return false, nil
			}
		}
		return true, nil
	})
}

// checkCount makes a run count only if the index holds exactly -orders
// documents, then drops the index so the next run starts on an equally
// empty cluster.
func (b *bench) checkCount(ctx context.Context, index string) error {
	n, err := b.es.count(ctx, index)
	if err != nil {
		return fmt.Errorf("count %s: %w", index, err)
	}
	if err := b.es.deleteIndex(ctx, index); err != nil {
		b.logf("delete %s: %v", index, err)
	}
	if n != int64(b.opts.orders) {
		return fmt.Errorf("index %s holds %d documents, want %d", index, n, b.opts.orders)
	}
	return nil
}

// best is the better consumer run and the best ceiling grid point.
func (t throughput) best() (consumer float64, ceiling ceilingRun) {
	for _, r := range t.consumer {
		if r.err == nil {
			consumer = max(consumer, r.rate)
		}
	}
	for _, c := range t.ceiling {
		if c.err == nil && c.rate > ceiling.rate {
			ceiling = c
		}
	}
	return consumer, ceiling
}

// consumerErr is why no consumer run counts, if none does.
func (t throughput) consumerErr() error {
	if t.err != nil {
		return t.err
	}
	for _, r := range t.consumer {
		if r.err == nil {
			return nil
		}
	}
	if len(t.consumer) == 0 {
		return fmt.Errorf("no consumer run")
	}
	return t.consumer[0].err
}

func (t throughput) row() row {
	r := row{measure: "Consumer throughput (consumer ÷ ceiling)", goal: "≥ 0.9"}
	if t.err != nil {
		return r.fail(t.err)
	}
	for _, c := range t.consumer {
		if c.err != nil {
			return r.fail(c.err)
		}
	}
	consumer, ceiling := t.best()
	if ceiling.rate == 0 {
		err := fmt.Errorf("no ceiling run succeeded")
		if len(t.ceiling) > 0 {
			err = t.ceiling[0].err
		}
		return r.fail(err)
	}
	ratio := consumer / ceiling.rate
	runs := make([]string, len(t.consumer))
	for i, c := range t.consumer {
		runs[i] = fmtInt(c.rate)
	}
	r.result = fmt.Sprintf("**%.2f** = %s ÷ %s msgs/s (consumer best of %d runs: %s; ceiling best of %d: %d workers × %d docs; %s messages, index counts exact)",
		ratio, fmtInt(consumer), fmtInt(ceiling.rate), len(t.consumer), strings.Join(runs, ", "),
		len(t.ceiling), ceiling.workers, ceiling.batch, fmtInt(float64(t.messages)))
	return r.judge(ratio >= 0.9)
}
