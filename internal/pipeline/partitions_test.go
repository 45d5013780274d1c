package pipeline

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/orderpipe/orderpipe/internal/generator"
	"github.com/orderpipe/orderpipe/internal/kafka"
)

// partitionFetcher is a PartitionFetcher, like kafka.GroupMember: each
// partition is read on its own, round robin, from source, and a paused one
// is not read at all; revoke starts a generation that takes partitions
// away, handed over on Revocations before it reads anything, and from then
// on they are neither read nor committed (a commit naming one is counted,
// as the broker would refuse it from this member).
type partitionFetcher struct {
	mu      sync.Mutex
	source  func(p int, o int64) (kafkago.Message, bool)
	next    []int64 // per partition, the next offset to read
	fetched []int64 // per partition, messages handed out
	owned   []bool
	paused  []bool
	gen     int64
	revoked chan kafka.Revocation
	turn    int

	pauses, resumes int
	committed       map[int]int64 // last commit wins, as in Kafka
	commitsOfLost   int           // commits naming a partition revoked before
}

func newPartitionFetcher(partitions int, source func(p int, o int64) (kafkago.Message, bool)) *partitionFetcher {
	f := &partitionFetcher{source: source, next: make([]int64, partitions), fetched: make([]int64, partitions),
		owned: make([]bool, partitions), paused: make([]bool, partitions), gen: 1, revoked: make(chan kafka.Revocation), committed: map[int]int64{}}
	for p := range f.owned {
		f.owned[p] = true
	}
	return f
}

// listSource serves msgs (with their own partitions and offsets).
func listSource(msgs []kafkago.Message) func(p int, o int64) (kafkago.Message, bool) {
	by := map[int][]kafkago.Message{}
	for _, m := range msgs {
		by[m.Partition] = append(by[m.Partition], m)
	}
	return func(p int, o int64) (kafkago.Message, bool) {
		if o < int64(len(by[p])) {
			return by[p][o], true
		}
		return kafkago.Message{}, false
	}
}

func (f *partitionFetcher) Fetch(ctx context.Context) (kafka.Fetched, error) {
	for {
		f.mu.Lock()
		for range f.next {
			p := f.turn
			f.turn = (f.turn + 1) % len(f.next)
			if !f.owned[p] || f.paused[p] {
				continue
			}
			if m, ok := f.source(p, f.next[p]); ok {
				f.next[p]++
				f.fetched[p]++
				gen := f.gen
				f.mu.Unlock()
				return kafka.Fetched{Message: m, Generation: gen}, nil
			}
		}
		f.mu.Unlock()
		select {
		case <-ctx.Done():
			return kafka.Fetched{}, ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}

func (f *partitionFetcher) FetchMessage(ctx context.Context) (kafkago.Message, error) {
	r, err := f.Fetch(ctx)
	return r.Message, err
}

func (f *partitionFetcher) Revocations() <-chan kafka.Revocation { return f.revoked }

func (f *partitionFetcher) CommitMessages(_ context.Context, msgs ...kafkago.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, m := range msgs {
		if !f.owned[m.Partition] {
			f.commitsOfLost++
			continue
		}
		f.committed[m.Partition] = m.Offset + 1
	}
	return nil
}

func (f *partitionFetcher) Pause(_ string, p int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.paused[p] = true
	f.pauses++
}

func (f *partitionFetcher) Resume(_ string, p int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.paused[p] = false
	f.resumes++
}

// revoke starts a generation without partitions ps, and returns once the
// pipeline took the revocation (failing t if it does not within 10 s).
func (f *partitionFetcher) revoke(t *testing.T, topic string, ps ...int) {
	t.Helper()
	f.mu.Lock()
	f.gen++
	r := kafka.Revocation{Generation: f.gen}
	for _, p := range ps {
		f.owned[p] = false
		r.Partitions = append(r.Partitions, kafka.TopicPartition{Topic: topic, Partition: p})
	}
	f.mu.Unlock()
	select {
	case f.revoked <- r:
	case <-time.After(10 * time.Second):
		t.Fatal("the pipeline did not take a revocation within 10s")
	}
}

func (f *partitionFetcher) snapshot() (fetched []int64, paused []bool, committed map[int]int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	committed = make(map[int]int64, len(f.committed))
	for k, v := range f.committed {
		committed[k] = v
	}
	return append([]int64(nil), f.fetched...), append([]bool(nil), f.paused...), committed
}

// With a fetcher that can pause one partition, a document retried for ever
// holds back only its own partition: that one is paused at the bound, the
// others are read and committed to their ends meanwhile, and once the
// document goes through, the paused partition is resumed and committed to
// its end too.
func TestPausedPartitionIsNotFetchedWhileTheOthersAre(t *testing.T) {
	pool, _ := events(t, 21, generator.Config{}, 1)
	victim := pool[20]
	available := []int64{50_000, 5_000, 5_000}
	const victimOffset = 7
	f := newPartitionFetcher(3, func(p int, o int64) (kafkago.Message, bool) {
		if o >= available[p] {
			return kafkago.Message{}, false
		}
		src := pool[o%20]
		if p == 0 && o == victimOffset {
			src = victim
		}
		return kafkago.Message{Topic: "orders", Partition: p, Offset: o, Key: src.Key, Value: src.Value}, true
	})
	es := newFakeES()
	unstick := es.stick(string(victim.Key))
	c := testConfig()
	c.BulkSize, c.Workers, c.MaxUncommitted = 100, 3, 2_000
	health := newTestHealth()
	p := newPipeline(t, c, f, es, &fakeDLQ{}, Options{Health: health})
	stop := start(t, p)

	eventually(t, "the other partitions committed to their ends", func() bool {
		_, _, committed := f.snapshot()
		return committed[1] == available[1] && committed[2] == available[2]
	})
	fetched, paused, committed := f.snapshot()
	if !paused[0] || paused[1] || paused[2] {
		t.Fatalf("paused %v, want partition 0 alone", paused)
	}
	if committed[0] > victimOffset {
		t.Fatalf("partition 0 committed to %d, past its stuck message at %d", committed[0], victimOffset)
	}
	// Up to the bound behind the stuck message, and what was on its way in
	// the pipeline's own queue when it paused.
	if most := int64(victimOffset + 1 + c.MaxUncommitted + 256); fetched[0] > most {
		t.Fatalf("fetched %d messages of the paused partition, more than %d", fetched[0], most)
	}
	if peak := p.Stats().PeakUncommitted; peak > int64(c.MaxUncommitted) {
		t.Fatalf("%d messages of one partition waiting, over the bound %d", peak, c.MaxUncommitted)
	}
	if r := health.Reason(); !strings.Contains(r, "partition 0 held back") {
		t.Fatalf("readiness %q does not name partition 0", r)
	}
	t.Logf("partition 0 paused after %d of %d messages; partitions 1 and 2 committed to their ends", fetched[0], available[0])

	unstick()
	eventually(t, "partition 0 committed to its end", func() bool {
		_, _, committed := f.snapshot()
		return committed[0] == available[0]
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if f.resumes == 0 {
		t.Fatal("partition 0 was never resumed")
	}
	if peak := p.Stats().PeakUncommitted; peak > int64(c.MaxUncommitted) {
		t.Fatalf("%d messages of one partition waiting at the peak, over the bound %d", peak, c.MaxUncommitted)
	}
	if strings.Contains(health.Reason(), "held back") {
		t.Fatalf("still held back: %q", health.Reason())
	}
}

// A revocation abandons the batches in flight of exactly the revoked
// partitions: their stuck document is no longer retried and their offsets
// are not committed from here again, while a stuck document of a partition
// this member keeps goes on being retried until it goes through.
func TestRevocationAbandonsExactlyTheRevokedPartitions(t *testing.T) {
	msgs, evs := events(t, 300, generator.Config{}, 3)
	// One stuck order on partition 0 and one on partition 1, a few
	// messages in, each its order's only message in the topic.
	count := map[string]int{}
	for _, ev := range evs {
		count[ev.OrderID]++
	}
	stuck := map[int]kafkago.Message{}
	for i, m := range msgs {
		if _, ok := stuck[m.Partition]; !ok && m.Partition < 2 && m.Offset >= 5 && count[evs[i].OrderID] == 1 {
			stuck[m.Partition] = m
		}
	}
	if len(stuck) != 2 {
		t.Fatalf("no single-message order on partitions 0 and 1: %v", stuck)
	}
	lost, kept := string(stuck[0].Key), string(stuck[1].Key)
	f := newPartitionFetcher(3, listSource(msgs))
	es := newFakeES()
	unstick := es.stick(lost, kept)
	c := testConfig()
	c.BulkSize, c.Workers = 20, 3
	p := newPipeline(t, c, f, es, &fakeDLQ{}, Options{})
	stop := start(t, p)

	eventually(t, "both stuck documents retried", func() bool { return es.sent(lost) >= 3 && es.sent(kept) >= 3 })
	f.revoke(t, "orders", 0)
	eventually(t, "the revoked partition's batch abandoned", func() bool { return p.Stats().Abandoned > 0 })
	// The kept one is retried on; the lost one's batch, which retries at
	// the same pace, has long seen the revocation ten retries later.
	keptAt := es.sent(kept)
	eventually(t, "the kept partition's document retried on", func() bool { return es.sent(kept) >= keptAt+10 })
	sentLost := es.sent(lost)
	// Were the lost one still retried, it would go through now, once more.
	unstick()
	end := endOffsets(msgs)
	eventually(t, "the kept partitions committed to their ends", func() bool {
		_, _, committed := f.snapshot()
		return committed[1] == end[1] && committed[2] == end[2]
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := es.sent(lost); got != sentLost {
		t.Fatalf("the revoked partition's document was sent %d more times after its batch was abandoned", got-sentLost)
	}
	if f.commitsOfLost != 0 {
		t.Fatalf("%d commits named the revoked partition", f.commitsOfLost)
	}
	if _, _, committed := f.snapshot(); committed[0] > stuck[0].Offset {
		t.Fatalf("partition 0 committed to %d, past its stuck message at %d", committed[0], stuck[0].Offset)
	}
	t.Logf("%+v", p.Stats())
}
