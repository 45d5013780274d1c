package main

import (
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

	"github.com/orderpipe/orderpipe/internal/kafka"
)

// producerBench is row 3 (and the producer's half of row 4): our producer
// binary against Kafka's ProducerPerformance, alternating A B A B so that
// drift on a shared machine hits both alike.
type producerBench struct {
	ours, theirs []float64 // msgs/s per run
	ratios       []float64
	maxRSS       int64
	err          error
}

func (b *bench) producerThroughput(ctx context.Context) producerBench {
	var pb producerBench
	for i := range b.opts.pairs {
		if ctx.Err() != nil {
			pb.err = ctx.Err()
			return pb
		}
		ours, rss, err := b.oursOnce(ctx, i+1)
		if err != nil {
			pb.err = err
			b.logf("producer throughput: FAILED: %v", err)
			return pb
		}
		pb.maxRSS = max(pb.maxRSS, rss)
		theirs, err := b.theirsOnce(ctx, i+1)
		if err != nil {
			pb.err = err
			b.logf("producer throughput: FAILED: %v", err)
			return pb
		}
		pb.ours, pb.theirs = append(pb.ours, ours), append(pb.theirs, theirs)
		pb.ratios = append(pb.ratios, ours/theirs)
		b.logf("producer pair %d: ours %.0f msgs/s, ProducerPerformance %.0f msgs/s, ratio %.2f", i+1, ours, theirs, ours/theirs)
	}
	return pb
}

// oursOnce runs the producer binary at full speed into a fresh topic. Its
// rate is the messages in the topic over the time from the first message's
// Kafka timestamp (stamped by the producer's client when it writes the first
// batch) to the process's exit: process start-up and topic creation are
// left out, as ProducerPerformance leaves out its JVM's start-up.
func (b *bench) oursOnce(ctx context.Context, i int) (rate float64, maxRSS int64, err error) {
	topic := fmt.Sprintf("%sproducer-ours-%d", b.prefix, i)
	b.topics = append(b.topics, topic)
	port, err := freePort()
	if err != nil {
		return 0, 0, err
	}
	n := b.opts.producerOrders
	c, err := b.start(ctx, fmt.Sprintf("producer-ours-%d", i), b.bin("producer"), nil, b.producerEnv(topic, port, 0, n))
	if err != nil {
		return 0, 0, err
	}
	if err := c.wait(ctx, 2*time.Minute+time.Duration(n/5000)*time.Second); err != nil {
		return 0, 0, err
	}
	ranges, err := b.admin.Offsets(ctx, topic)
	if err != nil {
		return 0, 0, err
	}
	var total int64
	for _, r := range ranges {
		total += r.Len()
	}
	if total < int64(n) {
		return 0, 0, fmt.Errorf("%s holds %d messages, want at least %d", topic, total, n)
	}
	first, err := b.firstTimestamp(ctx, topic, ranges)
	if err != nil {
		return 0, 0, err
	}
	return float64(total) / c.exited.Sub(first).Seconds(), c.maxRSS(), nil
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
// lines before it have no percentiles).
var perfResult = regexp.MustCompile(`(\d+) records sent, ([\d.]+) records/sec .*th\.`)

// theirsOnce runs Kafka's own ProducerPerformance with the settings of
// scripts/bench-producer (880-byte records, the size of one of our orders;
// acks=all, lz4, linger.ms=5, batch.size=1 MiB) into a fresh 6-partition
// topic, and reads the rate it reports (from its first send to its last
// acknowledgement).
func (b *bench) theirsOnce(ctx context.Context, i int) (float64, error) {
	topic := fmt.Sprintf("%sproducer-perf-%d", b.prefix, i)
	if err := b.ensureTopic(ctx, topic); err != nil {
		return 0, err
	}
	cp, err := os.ReadFile(filepath.Join(b.services, "kafka.classpath"))
	if err != nil {
		return 0, fmt.Errorf("read Kafka's classpath: %w", err)
	}
	n := b.opts.producerOrders
	args := []string{"-Xmx512m", "-cp", strings.TrimSpace(string(cp)), "org.apache.kafka.tools.ProducerPerformance",
		"--topic", topic, "--num-records", strconv.Itoa(n), "--record-size", "880", "--throughput", "-1",
		"--producer-props", "bootstrap.servers=" + b.brokers, "acks=all", "compression.type=lz4", "linger.ms=5", "batch.size=1048576"}
	c, err := b.start(ctx, fmt.Sprintf("producer-perf-%d", i), "java", args, nil)
	if err != nil {
		return 0, err
	}
	if err := c.wait(ctx, 2*time.Minute+time.Duration(n/5000)*time.Second); err != nil {
		return 0, err
	}
	out, err := os.ReadFile(c.logPath)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", c.logPath, err)
	}
	m := perfResult.FindAllSubmatch(out, -1)
	if len(m) == 0 {
		return 0, fmt.Errorf("no result line in ProducerPerformance's output (log: %s)", c.logPath)
	}
	last := m[len(m)-1]
	if sent, _ := strconv.Atoi(string(last[1])); sent != n {
		return 0, fmt.Errorf("ProducerPerformance sent %d records, want %d (log: %s)", sent, n, c.logPath)
	}
	return strconv.ParseFloat(string(last[2]), 64)
}

func (pb producerBench) row() row {
	r := row{measure: "Producer throughput (ours ÷ ProducerPerformance)", goal: "≥ 0.9"}
	if pb.err != nil {
		return r.fail(pb.err)
	}
	ratio := median(pb.ratios)
	r.result = fmt.Sprintf("**%.2f** (median of %d ours/theirs pair(s): %s); ours %s, theirs %s msgs/s (medians; 1 order = 1 message)",
		ratio, len(pb.ratios), joinFloats(pb.ratios, "%.2f"), fmtInt(median(pb.ours)), fmtInt(median(pb.theirs)))
	return r.judge(ratio >= 0.9)
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
