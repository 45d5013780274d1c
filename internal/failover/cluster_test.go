//go:build cluster

package failover_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/orderpipe/orderpipe/internal/e2e"
	"github.com/orderpipe/orderpipe/internal/generator"
	"github.com/orderpipe/orderpipe/internal/kafka"
	"github.com/orderpipe/orderpipe/internal/producer"
	"github.com/orderpipe/orderpipe/internal/servicetest"
	"github.com/orderpipe/orderpipe/internal/settings"
)

// partitions returns the leader and the in-sync replicas of each partition
// of topic, as the cluster reports them now.
func partitions(t *testing.T, s *e2e.Stack, topic string) (leader map[int]int, isr map[int]int, err error) {
	t.Helper()
	client, err := s.Kafka.Client()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	md, err := client.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, nil, err
	}
	leader, isr = map[int]int{}, map[int]int{}
	for _, tp := range md.Topics {
		for _, p := range tp.Partitions {
			leader[p.ID] = p.Leader.ID
			isr[p.ID] = len(p.Isr)
		}
	}
	return leader, isr, nil
}

// busiestLeader is the broker that leads the most partitions of topic.
func busiestLeader(t *testing.T, s *e2e.Stack, topic string) (id, led int) {
	t.Helper()
	leader, _, err := partitions(t, s, topic)
	if err != nil {
		t.Fatal(err)
	}
	count := map[int]int{}
	for _, id := range leader {
		count[id]++
	}
	ids := make([]int, 0, len(count))
	for id := range count {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	for _, candidate := range ids {
		if count[candidate] > led {
			id, led = candidate, count[candidate]
		}
	}
	return id, led
}

// run is an in-process producer writing to a Stack's topic through the real
// producer engine and Kafka writer, recording what it generated and what
// Kafka acknowledged.
type run struct {
	p    *producer.Producer
	out  *producer.KafkaWriter
	done chan error

	mu        sync.Mutex
	generated []generator.Event
	acked     map[[32]byte]bool
	lastAck   time.Time
	gaps      []time.Duration // between consecutive acknowledged batches
}

func (r *run) Generated(ev generator.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.generated = append(r.generated, ev)
}

func (r *run) Resending(int, int) {}

func (r *run) BatchWritten(msgs []kafkago.Message, _ time.Duration) {
	if len(msgs) == 0 {
		return
	}
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range msgs {
		r.acked[e2e.Digest(m.Key, m.Value)] = true
	}
	if !r.lastAck.IsZero() {
		r.gaps = append(r.gaps, now.Sub(r.lastAck))
	}
	r.lastAck = now
}

// longestGap is the longest wait between acknowledged batches.
func (r *run) longestGap() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	var longest time.Duration
	for _, g := range r.gaps {
		longest = max(longest, g)
	}
	return longest
}

func (r *run) lastAcked() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastAck
}

// midStream starts a case's pipeline on the cluster: its consumer, and a
// producer writing 800 new orders a second, some 80,000 messages for
// 24,000 orders over about 30 s; it returns once a third of the orders is
// produced, when the case kills its node.
func midStream(t *testing.T, s *e2e.Stack, orders int) (*e2e.Consumer, *run) {
	t.Helper()
	cons := s.StartConsumer(t, "only")
	r := startProducer(t, s, orders, 800)
	servicetest.WaitFor(t, 2*time.Minute, "a third of the orders produced", func() bool { return r.p.Stats.Orders.Load() >= int64(orders/3) })
	return cons, r
}

// startProducer produces orders new orders at rate per second, each
// followed by its lifecycle within a second, with 1% malformed messages.
func startProducer(t *testing.T, s *e2e.Stack, orders int, rate float64) *run {
	t.Helper()
	var cfg producer.Config
	if err := settings.Defaults(&cfg); err != nil {
		t.Fatal(err)
	}
	cfg.Rate, cfg.Count, cfg.ShutdownTimeout = rate, int64(orders), 30*time.Second
	cfg.Seed, cfg.MalformedShare, cfg.LifecycleDelay = time.Now().UnixNano(), 0.01, 500*time.Millisecond
	r := &run{acked: map[[32]byte]bool{}, done: make(chan error, 1)}
	log := slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelWarn})).With("producer", "failover")
	d, err := producer.Assemble(producer.Setup{
		Kafka: s.Kafka, Writer: e2e.WriterConfig(t),
		// The stack made the topic; one replica asked for is no shortfall.
		Topic:  kafka.TopicSpec{Name: s.Topic, Partitions: e2e.Partitions, ReplicationFactor: 1},
		Config: cfg,
	}, producer.Options{Log: log, Observer: r})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("generator seed %d", d.Seed())
	r.p, r.out = d.Producer, d.Out
	ctx, cancel := context.WithCancel(context.Background())
	go func() { r.done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(time.Minute):
			t.Error("producer did not stop within a minute")
		}
	})
	return r
}

// wait waits for the producer to finish its orders and returns every
// event it generated.
func (r *run) wait(t *testing.T, timeout time.Duration) []generator.Event {
	t.Helper()
	select {
	case err := <-r.done:
		if err != nil {
			t.Fatalf("producer: %v", err)
		}
		r.done <- nil // for the cleanup
	case <-time.After(timeout):
		t.Fatalf("producer did not finish within %v (produced %d)", timeout, r.p.Stats.Produced.Load())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.generated)
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(string(p))
	return len(p), nil
}

// assertAckedInTopic checks every message the producer counted as
// acknowledged is in the topic, and that the copies in the topic (resends
// after a lost acknowledgement) are no more than the producer reported as
// possible duplicates; it returns both counts.
func assertAckedInTopic(t *testing.T, s *e2e.Stack, r *run) (duplicates int, possible int64) {
	t.Helper()
	inTopic := map[[32]byte]int{}
	for _, m := range s.ReadTopic(t, s.Topic) {
		inTopic[e2e.Digest(m.Key, m.Value)]++
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	missing := 0
	for d := range r.acked {
		if inTopic[d] == 0 {
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("%d of the %d messages Kafka acknowledged are not in the topic", missing, len(r.acked))
	}
	for _, n := range inTopic {
		duplicates += n - 1
	}
	if len(r.acked) != len(r.generated) {
		t.Fatalf("the producer generated %d messages and Kafka acknowledged %d", len(r.generated), len(r.acked))
	}
	possible = r.out.Stats.PossibleDuplicates.Load()
	if int64(duplicates) > possible {
		t.Fatalf("the topic holds %d duplicates, the producer reported %d possible duplicates: its count must be an upper bound", duplicates, possible)
	}
	return duplicates, possible
}

// watchStalls samples a counter every 50 ms until the returned stop is
// called, and stop returns the longest time the counter did not move: how
// long a stage stood still while a node was down. A test that fails before
// calling stop has it called at cleanup, so the sampler never outlives it.
func watchStalls(t *testing.T, read func() int64) (stop func() time.Duration) {
	done := make(chan struct{})
	longest := make(chan time.Duration, 1)
	go func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		last, since, worst := read(), time.Now(), time.Duration(0)
		for {
			select {
			case <-done:
				longest <- max(worst, time.Since(since))
				return
			case now := <-tick.C:
				if v := read(); v != last {
					worst = max(worst, now.Sub(since))
					last, since = v, now
				}
			}
		}
	}()
	var once sync.Once
	var result time.Duration
	stop = func() time.Duration {
		once.Do(func() {
			close(done)
			result = <-longest
		})
		return result
	}
	t.Cleanup(func() { stop() })
	return stop
}

// report logs a recovery figure, and appends it to the file named by
// ORDERPIPE_FAILOVER_REPORT (make test-cluster prints that file after the
// run, since go test shows a passing test's log only with -v, and -v would
// print the consumers' logs too).
func report(t *testing.T, format string, args ...any) {
	t.Helper()
	line := t.Name() + ": " + fmt.Sprintf(format, args...)
	t.Log(line)
	path := os.Getenv("ORDERPIPE_FAILOVER_REPORT")
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Errorf("open failover report: %v", err)
		return
	}
	defer f.Close()
	if _, err := fmt.Fprintln(f, line); err != nil {
		t.Errorf("write failover report: %v", err)
	}
}
