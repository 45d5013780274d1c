package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/orderpipe/orderpipe/internal/generator"
	"github.com/orderpipe/orderpipe/internal/kafka"
)

// payloadOrders is how many orders the payload file for ProducerPerformance
// holds: enough for the size mix of the run (it picks one at random per
// record), few enough that its JVM holds them easily.
const payloadOrders = 20_000

// producerBench is the producer's rows: our producer binary against Kafka's
// ProducerPerformance on the same orders, each warmed up by one uncounted
// run, then alternating A B A B so that drift on a shared machine hits both
// alike.
type producerBench struct {
	ours, theirs []sideRun
	ratios       []float64
	// unkeyed are ProducerPerformance's runs with null keys, run in the
	// same rotation: not like for like (see keyMode), shown beside.
	unkeyed      []sideRun
	unkeyedRatio []float64
	payload      payloadStats
	maxRSS       int64
	err          error
}

// sideRun is one timed run of one side.
type sideRun struct {
	msgs, mb float64 // per second; mb counts value bytes, 1 MB = 2^20 bytes as ProducerPerformance does
}

// payloadStats describes the payload file.
type payloadStats struct {
	path      string
	orders    int
	meanBytes float64
}

func (b *bench) producerThroughput(ctx context.Context) producerBench {
	var pb producerBench
	fail := func(err error) producerBench {
		pb.err = err
		b.logf("producer throughput: FAILED: %v", err)
		return pb
	}
	var err error
	if pb.payload, err = b.writePayload(); err != nil {
		return fail(err)
	}
	b.logf("producer: payload file of %d orders (mean %.0f value bytes) from seed %d; warming up both sides", pb.payload.orders, pb.payload.meanBytes, b.seed)
	_, rss, err := b.oursOnce(ctx, "warmup")
	if err != nil {
		return fail(err)
	}
	pb.maxRSS = rss
	for _, keys := range []keyMode{keyed, nullKeys} {
		if _, err := b.theirsOnce(ctx, "warmup", pb.payload.path, keys); err != nil {
			return fail(err)
		}
	}
	for i := range b.opts.pairs {
		if ctx.Err() != nil {
			return fail(ctx.Err())
		}
		ours, rss, err := b.oursOnce(ctx, strconv.Itoa(i+1))
		if err != nil {
			return fail(err)
		}
		pb.maxRSS = max(pb.maxRSS, rss)
		theirs, err := b.theirsOnce(ctx, strconv.Itoa(i+1), pb.payload.path, keyed)
		if err != nil {
			return fail(err)
		}
		unkeyed, err := b.theirsOnce(ctx, strconv.Itoa(i+1), pb.payload.path, nullKeys)
		if err != nil {
			return fail(err)
		}
		pb.ours, pb.theirs, pb.unkeyed = append(pb.ours, ours), append(pb.theirs, theirs), append(pb.unkeyed, unkeyed)
		pb.ratios = append(pb.ratios, ours.msgs/theirs.msgs)
		pb.unkeyedRatio = append(pb.unkeyedRatio, ours.msgs/unkeyed.msgs)
		b.logf("producer round %d: ours %.0f msgs/s %.1f MB/s; ProducerPerformance keyed %.0f msgs/s %.1f MB/s (ratio %.2f), null keys %.0f msgs/s %.1f MB/s (ratio %.2f)",
			i+1, ours.msgs, ours.mb, theirs.msgs, theirs.mb, ours.msgs/theirs.msgs, unkeyed.msgs, unkeyed.mb, ours.msgs/unkeyed.msgs)
	}
	return pb
}

// generatorConfig is what the producer binary runs with under producerEnv:
// the defaults, this run's seed, no lifecycle events, nothing malformed.
func (b *bench) generatorConfig() generator.Config {
	cfg := generator.DefaultConfig()
	cfg.Seed, cfg.LifecycleShare, cfg.MalformedShare = b.seed, 0, 0
	return cfg
}

// writePayload writes the first orders of this run's seed, one JSON
// document a line (ProducerPerformance's default delimiter; the encoder
// writes none inside a document), for ProducerPerformance's --payload-file:
// the orders our producer sends in its runs, the same sizes and the same
// compressibility.
func (b *bench) writePayload() (payloadStats, error) {
	gen, err := generator.New(b.generatorConfig())
	if err != nil {
		return payloadStats{}, err
	}
	st := payloadStats{path: filepath.Join(b.dir, "orders.payload"), orders: min(payloadOrders, b.opts.producerOrders)}
	f, err := os.Create(st.path)
	if err != nil {
		return st, fmt.Errorf("create the payload file: %w", err)
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	var total int
	now := time.Now()
	for range st.orders {
		ev := gen.Next(now)
		if slices.Contains(ev.Value, '\n') {
			return st, fmt.Errorf("order %s holds a newline: it cannot be one line of the payload file", ev.OrderID)
		}
		total += len(ev.Value)
		// A bufio.Writer keeps its first error and returns it from Flush.
		_, _ = w.Write(ev.Value)
		_ = w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		return st, fmt.Errorf("write the payload file: %w", err)
	}
	st.meanBytes = float64(total) / float64(st.orders)
	return st, f.Close()
}

// stoppedBytes reads the value bytes acknowledged from the producer's
// final log line.
var stoppedBytes = regexp.MustCompile(`"msg":"producer stopped".*"bytes":(\d+)`)

// oursOnce runs the producer binary at full speed into a fresh topic. Its
// rate is the messages in the topic over the time from the first message's
// Kafka timestamp (stamped by the producer's client when it writes the first
// batch) to the process's exit: process start-up and topic creation are
// left out, as ProducerPerformance leaves out its JVM's start-up.
func (b *bench) oursOnce(ctx context.Context, run string) (r sideRun, maxRSS int64, err error) {
	topic := fmt.Sprintf("%sproducer-ours-%s", b.prefix, run)
	// Created here, as ProducerPerformance's is, not by the producer: a
	// topic's partitions refuse writes (NOT_LEADER) for a moment after
	// creation, which neither side should pay for in its timed run.
	if err := b.ensureTopic(ctx, topic); err != nil {
		return r, 0, err
	}
	port, err := freePort()
	if err != nil {
		return r, 0, err
	}
	n := b.opts.producerOrders
	c, err := b.start(ctx, "producer-ours-"+run, b.bin("producer"), nil, b.producerEnv(topic, port, 0, n))
	if err != nil {
		return r, 0, err
	}
	if err := c.wait(ctx, 2*time.Minute+time.Duration(n/5000)*time.Second); err != nil {
		return r, 0, err
	}
	ranges, err := b.admin.Offsets(ctx, topic)
	if err != nil {
		return r, 0, err
	}
	var total int64
	for _, pr := range ranges {
		total += pr.Len()
	}
	if total < int64(n) {
		return r, 0, fmt.Errorf("%s holds %d messages, want at least %d", topic, total, n)
	}
	first, err := b.firstTimestamp(ctx, topic, ranges)
	if err != nil {
		return r, 0, err
	}
	out, err := os.ReadFile(c.logPath)
	if err != nil {
		return r, 0, fmt.Errorf("read %s: %w", c.logPath, err)
	}
	m := stoppedBytes.FindSubmatch(out)
	if m == nil {
		return r, 0, fmt.Errorf("no final line with bytes in the producer's log %s", c.logPath)
	}
	bytes, _ := strconv.ParseFloat(string(m[1]), 64)
	secs := c.exited.Sub(first).Seconds()
	return sideRun{msgs: float64(total) / secs, mb: bytes / secs / (1 << 20)}, c.maxRSS(), nil
}

// firstTimestamp is the earliest Kafka timestamp among the first message of
// every partition.
func (b *bench) firstTimestamp(ctx context.Context, topic string, ranges []kafka.PartitionRange) (time.Time, error) {
	dialer, err := b.kafka.Dialer()
	if err != nil {
		return time.Time{}, err
	}
	var first time.Time
	for _, r := range ranges {
		if r.Len() == 0 {
			continue
		}
		rd := kafkago.NewReader(kafkago.ReaderConfig{Brokers: []string{b.brokers}, Topic: topic, Partition: r.Partition, Dialer: dialer, MaxWait: 100 * time.Millisecond})
		err := rd.SetOffset(r.First)
		var m kafkago.Message
		if err == nil {
			rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			m, err = rd.ReadMessage(rctx)
			cancel()
		}
		rd.Close()
		if err != nil {
			return time.Time{}, fmt.Errorf("read the first message of %s/%d: %w", topic, r.Partition, err)
		}
		if first.IsZero() || m.Time.Before(first) {
			first = m.Time
		}
	}
	return first, nil
}

// perfResult matches ProducerPerformance's final line, e.g. "200000 records
// sent, 104970.3 records/sec (88.09 MB/sec), ... 99.9th." (the periodic
// lines before it have no percentiles). Its MB are 2^20 bytes of record
// values.
var perfResult = regexp.MustCompile(`(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\).*th\.`)

// keyMode is how ProducerPerformance keys its records.
type keyMode bool

const (
	// keyed gives every record a random key, as ours keys every order by
	// its id: the default partitioner spreads them over all partitions by
	// murmur2, so each produce request carries a share of a batch per
	// partition, as ours does. The like-for-like comparison.
	keyed keyMode = true
	// nullKeys is the tool's default: the sticky partitioner fills one
	// partition's batch at a time, larger batches than any keyed producer
	// can make. Not what a producer that must keep an order's events on
	// one partition can do; shown as a separate row.
	nullKeys keyMode = false
)

func (k keyMode) String() string {
	if k == keyed {
		return "keyed"
	}
	return "nullkeys"
}

// theirsOnce runs Kafka's own ProducerPerformance on the payload file with
// our producer's settings (acks=all, lz4, linger.ms=5 as
// KAFKA_BATCH_TIMEOUT, batch.size=1 MiB as KAFKA_BATCH_BYTES) into a fresh
// 6-partition topic, and reads the rate it reports (from its first send to
// its last acknowledgement).
func (b *bench) theirsOnce(ctx context.Context, run, payload string, keys keyMode) (sideRun, error) {
	name := fmt.Sprintf("producer-perf-%s-%s", keys, run)
	topic := b.prefix + name
	if err := b.ensureTopic(ctx, topic); err != nil {
		return sideRun{}, err
	}
	cp, err := os.ReadFile(filepath.Join(b.services, "kafka.classpath"))
	if err != nil {
		return sideRun{}, fmt.Errorf("read Kafka's classpath: %w", err)
	}
	n := b.opts.producerOrders
	args := []string{"-Xmx512m", "-cp", strings.TrimSpace(string(cp)), "org.apache.kafka.tools.ProducerPerformance",
		"--topic", topic, "--num-records", strconv.Itoa(n), "--payload-file", payload, "--throughput", "-1",
		"--producer-props", "bootstrap.servers=" + b.brokers, "acks=all", "compression.type=lz4", "linger.ms=5", "batch.size=1048576"}
	if keys == keyed {
		args = append(args, "--key-distribution", "random", "--record-key-range", "1000000000")
	}
	c, err := b.start(ctx, name, "java", args, nil)
	if err != nil {
		return sideRun{}, err
	}
	if err := c.wait(ctx, 2*time.Minute+time.Duration(n/5000)*time.Second); err != nil {
		return sideRun{}, err
	}
	out, err := os.ReadFile(c.logPath)
	if err != nil {
		return sideRun{}, fmt.Errorf("read %s: %w", c.logPath, err)
	}
	m := perfResult.FindAllSubmatch(out, -1)
	if len(m) == 0 {
		return sideRun{}, fmt.Errorf("no result line in ProducerPerformance's output (log: %s)", c.logPath)
	}
	last := m[len(m)-1]
	if sent, _ := strconv.Atoi(string(last[1])); sent != n {
		return sideRun{}, fmt.Errorf("ProducerPerformance sent %d records, want %d (log: %s)", sent, n, c.logPath)
	}
	msgs, err := strconv.ParseFloat(string(last[2]), 64)
	if err != nil {
		return sideRun{}, fmt.Errorf("ProducerPerformance's rate: %w", err)
	}
	mb, err := strconv.ParseFloat(string(last[3]), 64)
	if err != nil {
		return sideRun{}, fmt.Errorf("ProducerPerformance's MB/sec: %w", err)
	}
	return sideRun{msgs: msgs, mb: mb}, nil
}

// producerGoal is the least median ratio the producer must reach.
const producerGoal = 1.1

// rows are the keyed comparison, judged against the goal, and the null-key
// one beside it.
func (pb producerBench) rows() []row {
	main := row{measure: "Producer throughput (ours ÷ ProducerPerformance, same orders, keyed)", goal: fmt.Sprintf("≥ %.1f", producerGoal)}
	side := row{measure: "Producer throughput (ours ÷ ProducerPerformance, same orders, null keys: sticky partitioner)", goal: "—", verdict: "—"}
	if pb.err != nil {
		return []row{main.fail(pb.err), side.fail(pb.err)}
	}
	main.result = pb.compare(pb.ratios, pb.theirs)
	side.result = pb.compare(pb.unkeyedRatio, pb.unkeyed)
	return []row{main.judge(median(pb.ratios) >= producerGoal), side}
}

// compare renders the median ratio of ours to theirs with its range, and
// both sides' medians in msgs/s and MB/s.
func (pb producerBench) compare(ratios []float64, theirs []sideRun) string {
	msgs := func(s []sideRun) float64 { return median(mapRuns(s, func(r sideRun) float64 { return r.msgs })) }
	mb := func(s []sideRun) float64 { return median(mapRuns(s, func(r sideRun) float64 { return r.mb })) }
	return fmt.Sprintf("**%.2f** (median of %d pairs, range %.2f–%.2f: %s); ours %s msgs/s, %.1f MB/s; ProducerPerformance %s msgs/s, %.1f MB/s (medians; value bytes; payload file of %d of the run's orders, mean %.0f B)",
		median(ratios), len(ratios), slices.Min(ratios), slices.Max(ratios), joinFloats(ratios, "%.2f"),
		fmtInt(msgs(pb.ours)), mb(pb.ours), fmtInt(msgs(theirs)), mb(theirs), pb.payload.orders, pb.payload.meanBytes)
}

func mapRuns(runs []sideRun, f func(sideRun) float64) []float64 {
	out := make([]float64, len(runs))
	for i, r := range runs {
		out[i] = f(r)
	}
	return out
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func joinFloats(v []float64, format string) string {
	s := make([]string, len(v))
	for i, f := range v {
		s[i] = fmt.Sprintf(format, f)
	}
	return strings.Join(s, ", ")
}
