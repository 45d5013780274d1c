package pipeline

import (
	"context"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/orderpipe/orderpipe/internal/generator"
	"github.com/orderpipe/orderpipe/internal/kafka"
	"github.com/orderpipe/orderpipe/internal/servicetest"
)

// stuckPartitionMessages is how many messages arrive on the stuck
// document's partition: the million without -race (make
// test-heavy: about 9 s); under -race, which slows producing and consuming
// them 5-10x, 300,000 (about 33 s), still sixty times the bound.
// ORDERPIPE_TEST_STUCK_MESSAGES overrides it, to measure.
var stuckPartitionMessages = servicetest.Scaled(1_000_000, 300_000)

// The bound with the group member on the real Kafka of scripts/with-services:
// one document on partition 0 that Elasticsearch keeps refusing
// (retryably) while a million messages (stuckPartitionMessages) arrive
// behind it on partition 0 and thousands on five other partitions. Partition 0 alone is paused at the
// bound, its messages staying in Kafka; every message of the other
// partitions is handled and committed meanwhile; /readyz names partition 0;
// and once the document goes through, partition 0 is committed to its end.
func TestStuckDocumentHoldsBackOnlyItsPartition(t *testing.T) {
	brokers := servicetest.KafkaBrokers(t)
	cfg := kafka.Config{Brokers: brokers, ClientID: "orderpipe-bound-test"}
	topic, group := servicetest.Name(t, "bound"), servicetest.Name(t, "bound")
	const partitions, others = 6, 2_000
	servicetest.CreateTopic(t, brokers, topic, partitions)

	stuckTotal := stuckPartitionMessages
	if v, err := strconv.Atoi(os.Getenv("ORDERPIPE_TEST_STUCK_MESSAGES")); err == nil && v > 0 {
		stuckTotal = v
	}
	// The smallest of a few hundred valid orders, copied: Elasticsearch
	// (fake, keyed by _id with external versions) finds most of them
	// already indexed, which the pipeline handles like any other answer.
	evs, _ := events(t, 300, generator.Config{}, 1)
	slices.SortFunc(evs, func(a, b kafkago.Message) int { return len(a.Value) - len(b.Value) })
	victim := evs[0]
	var pool []kafkago.Message
	for _, m := range evs[1:] {
		if string(m.Key) != string(victim.Key) && len(pool) < 20 {
			pool = append(pool, m)
		}
	}
	const victimOffset = 100
	began := time.Now()
	// In chunks, so that a million messages are never all in memory.
	const chunk = 100_000
	for start := 0; start < stuckTotal; start += chunk {
		msgs := make([]kafkago.Message, 0, chunk)
		for i := start; i < min(start+chunk, stuckTotal); i++ {
			src := pool[i%len(pool)]
			if i == victimOffset {
				src = victim
			}
			msgs = append(msgs, kafkago.Message{Partition: 0, Key: src.Key, Value: src.Value})
		}
		servicetest.ProduceTo(t, brokers, topic, msgs)
	}
	msgs := make([]kafkago.Message, 0, (partitions-1)*others)
	for p := 1; p < partitions; p++ {
		for i := range others {
			src := pool[(i+p)%len(pool)]
			msgs = append(msgs, kafkago.Message{Partition: p, Key: src.Key, Value: src.Value})
		}
	}
	servicetest.ProduceTo(t, brokers, topic, msgs)
	end := servicetest.EndOffsets(t, brokers, topic)
	t.Logf("produced %d messages of %d bytes at most on partition 0 and %d on each of %d others in %v",
		end[0], len(pool[len(pool)-1].Value), others, partitions-1, time.Since(began).Round(time.Millisecond))

	var logs servicetest.SyncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	const queue = 500
	member, err := kafka.NewGroupMember(cfg, kafka.GroupMemberConfig{Topic: topic, GroupID: group, SessionTimeout: 6 * time.Second, QueueCapacity: queue}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = member.Close() })
	es := newFakeES()
	es.forget = true
	unstick := es.stick(string(victim.Key))
	c := testConfig()
	c.BulkSize, c.Workers, c.MaxUncommitted = 500, 3, 5_000
	health := newTestHealth()
	p := newPipeline(t, c, member, es, &fakeDLQ{}, Options{Health: health, Log: log})
	began = time.Now()
	stop := start(t, p)

	admin, err := kafka.NewAdmin(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	all := make([]int, partitions)
	for i := range all {
		all[i] = i
	}
	committed := func() map[int]int64 {
		got, err := admin.GroupOffsets(ctx, group, topic, all)
		if err != nil {
			t.Logf("read committed offsets: %v", err)
		}
		return got
	}
	servicetest.WaitFor(t, 2*time.Minute, "partition 0 held back", func() bool { return strings.Contains(health.Reason(), "partition 0 held back") })
	servicetest.WaitFor(t, 2*time.Minute, "the other partitions committed to their ends", func() bool {
		got := committed()
		for q := 1; q < partitions; q++ {
			if got[q] != end[q] {
				return false
			}
		}
		return true
	})
	held := p.Stats()
	if got := committed()[0]; got > victimOffset {
		t.Errorf("partition 0 committed to %d, past its stuck document at %d", got, victimOffset)
	}
	if held.PeakUncommitted > int64(c.MaxUncommitted) {
		t.Errorf("%d messages of one partition waiting, over the bound %d", held.PeakUncommitted, c.MaxUncommitted)
	}
	// Of partition 0: those before the stuck document, the bound behind
	// it, and what was on its way when it paused (the member's queue, the
	// partition reader's hand, the pipeline's own queue).
	if most := int64((partitions-1)*others + victimOffset + 1 + c.MaxUncommitted + queue + 1 + 256); held.Consumed > most {
		t.Errorf("consumed %d messages, more than the %d that can be on their way while partition 0 is paused", held.Consumed, most)
	}
	if r := health.Reason(); !strings.Contains(r, "partition 0 held back") {
		t.Errorf("readiness %q does not name partition 0", r)
	}
	if !strings.Contains(logs.String(), "partition 0 held back") {
		t.Error("the log does not say partition 0 is held back")
	}
	t.Logf("the other partitions committed after %v, partition 0 held with %d messages consumed: %s",
		time.Since(began).Round(time.Millisecond), held.Consumed, health.Reason())

	unstick()
	servicetest.WaitFor(t, 5*time.Minute, "partition 0 committed to its end", func() bool { return committed()[0] == end[0] })
	t.Logf("partition 0 (%d messages) committed to its end %v after the start", end[0], time.Since(began).Round(time.Millisecond))
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if s := p.Stats(); s.PeakUncommitted > int64(c.MaxUncommitted) {
		t.Errorf("%d messages of one partition waiting at the peak, over the bound %d", s.PeakUncommitted, c.MaxUncommitted)
	}
	if strings.Contains(health.Reason(), "held back") {
		t.Errorf("still held back after the document went through: %q", health.Reason())
	}
}
