package kafka

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/orderpipe/orderpipe/internal/servicetest"
)

// The group member against the real Kafka of scripts/with-services.

// perPartition makes n messages on each of the given partitions, with
// values naming their partition and sequence number.
func perPartition(counts map[int]int) []kafkago.Message {
	var msgs []kafkago.Message
	for p, n := range counts {
		for i := range n {
			msgs = append(msgs, kafkago.Message{Partition: p, Value: fmt.Appendf(nil, "%d-%d", p, i)})
		}
	}
	return msgs
}

func newMember(t *testing.T, brokers []string, topic, group string, queue int) *GroupMember {
	t.Helper()
	m, err := NewGroupMember(Config{Brokers: brokers, ClientID: "orderpipe-group-test"},
		GroupMemberConfig{Topic: topic, GroupID: group, SessionTimeout: 6 * time.Second, QueueCapacity: queue}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

func fetch(t *testing.T, m *GroupMember) Fetched {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		f, err := m.Fetch(ctx)
		if err == nil {
			return f
		}
		if ctx.Err() != nil {
			t.Fatalf("nothing fetched within a minute: %v", err)
		}
		t.Logf("fetch: %v", err) // the member reconnects on its own
	}
}

// kafka-go's Generation.CommitOffsets stores the offset it is given, where
// Reader.CommitMessages adds one: the member commits the offset after the
// message, so that a new member of the group starts right after it, not at
// it.
func TestGroupMemberCommitsTheOffsetAfterTheMessage(t *testing.T) {
	brokers := servicetest.KafkaBrokers(t)
	topic, group := servicetest.Name(t, "gm"), servicetest.Name(t, "gm")
	servicetest.CreateTopic(t, brokers, topic, 1)
	servicetest.ProduceTo(t, brokers, topic, perPartition(map[int]int{0: 10}))

	m := newMember(t, brokers, topic, group, 10)
	var upTo kafkago.Message
	for upTo.Offset < 4 {
		upTo = fetch(t, m).Message
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := m.CommitMessages(ctx, upTo); err != nil {
		t.Fatal(err)
	}
	admin, err := NewAdmin(Config{Brokers: brokers})
	if err != nil {
		t.Fatal(err)
	}
	got, err := admin.GroupOffsets(ctx, group, topic, []int{0})
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != 5 {
		t.Fatalf("committed offset %d after committing the message at 4, want 5", got[0])
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	next := newMember(t, brokers, topic, group, 10)
	if f := fetch(t, next); f.Message.Offset != 5 {
		t.Fatalf("the next member of the group starts at offset %d, want 5", f.Message.Offset)
	}
}

// A paused partition is not read past what was already on its way, while
// the others are read to their end; resumed, it continues where it stopped,
// with no offset skipped or repeated.
func TestGroupMemberPausesOnePartitionWhileTheOthersFlow(t *testing.T) {
	brokers := servicetest.KafkaBrokers(t)
	topic, group := servicetest.Name(t, "gm"), servicetest.Name(t, "gm")
	servicetest.CreateTopic(t, brokers, topic, 3)
	counts := map[int]int{0: 5000, 1: 1000, 2: 1000}
	servicetest.ProduceTo(t, brokers, topic, perPartition(counts))

	const queue = 10
	m := newMember(t, brokers, topic, group, queue)
	next := map[int]int64{}
	take := func(f Fetched) {
		t.Helper()
		msg := f.Message
		if msg.Offset != next[msg.Partition] {
			t.Fatalf("partition %d: offset %d after %d", msg.Partition, msg.Offset, next[msg.Partition]-1)
		}
		next[msg.Partition]++
	}
	for next[0] == 0 {
		take(fetch(t, m))
	}
	m.Pause(topic, 0)
	pausedAt := next[0]
	for next[1] < int64(counts[1]) || next[2] < int64(counts[2]) {
		take(fetch(t, m))
	}
	// What was in the queue and in the partition reader's hand when it
	// paused, at most.
	if got := next[0] - pausedAt; got > queue+1 {
		t.Fatalf("partition 0 delivered %d messages after its pause, more than the %d on their way", got, queue+1)
	}
	t.Logf("paused at %d of %d messages of partition 0; the others read to their end", next[0], counts[0])
	m.Resume(topic, 0)
	for next[0] < int64(counts[0]) {
		take(fetch(t, m))
	}
}

// When a second member joins, the first one is told which partitions it
// lost, before the new generation reads anything, and it no longer commits
// them; what it kept it commits through the new generation.
func TestGroupMemberReportsRevokedPartitionsAndStopsCommittingThem(t *testing.T) {
	brokers := servicetest.KafkaBrokers(t)
	topic, group := servicetest.Name(t, "gm"), servicetest.Name(t, "gm")
	servicetest.CreateTopic(t, brokers, topic, 4)
	servicetest.ProduceTo(t, brokers, topic, perPartition(map[int]int{0: 20, 1: 20, 2: 20, 3: 20}))

	a := newMember(t, brokers, topic, group, 10)
	revocations := a.Revocations()
	last := map[int]kafkago.Message{}
	var firstGen int64
	for len(last) < 4 {
		f := fetch(t, a)
		last[f.Message.Partition] = f.Message
		firstGen = f.Generation
	}
	b := newMember(t, brokers, topic, group, 10)
	var r Revocation
	select {
	case r = <-revocations:
	case <-time.After(time.Minute):
		t.Fatal("a was not told of a revocation within a minute of b joining")
	}
	if r.Generation <= firstGen || len(r.Partitions) == 0 || len(r.Partitions) == 4 {
		t.Fatalf("revocation %+v after generation %d, want a later generation and some of the 4 partitions", r, firstGen)
	}
	lost := map[int]bool{}
	for _, tp := range r.Partitions {
		if tp.Topic != topic {
			t.Fatalf("revoked %v, not of topic %s", tp, topic)
		}
		lost[tp.Partition] = true
	}
	// What a fetches now is of what it kept, read by the new generation.
	if f := fetch(t, a); lost[f.Message.Partition] || f.Generation < r.Generation {
		t.Fatalf("after losing %v, a fetched partition %d of generation %d", lost, f.Message.Partition, f.Generation)
	}
	// b reads what a lost, from the start (nothing was committed).
	seen := map[int]bool{}
	for len(seen) < len(lost) {
		msg := fetch(t, b).Message
		if !lost[msg.Partition] {
			t.Fatalf("b fetched partition %d, which a kept (a lost %v)", msg.Partition, r.Partitions)
		}
		seen[msg.Partition] = true
	}

	// a commits every partition's last message: only those it kept are
	// stored (a commit can meet the generation's end if the group is
	// still settling; it is then tried again, as the pipeline does).
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	all := slices.Collect(func(yield func(kafkago.Message) bool) {
		for _, m := range last {
			if !yield(m) {
				return
			}
		}
	})
	for {
		err := a.CommitMessages(ctx, all...)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	admin, err := NewAdmin(Config{Brokers: brokers})
	if err != nil {
		t.Fatal(err)
	}
	got, err := admin.GroupOffsets(ctx, group, topic, []int{0, 1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	for p := range 4 {
		want := last[p].Offset + 1
		if lost[p] {
			want = -1 // never committed: b has not committed either
		}
		if got[p] != want {
			t.Errorf("partition %d (lost: %v): committed offset %d, want %d", p, lost[p], got[p], want)
		}
	}
}
