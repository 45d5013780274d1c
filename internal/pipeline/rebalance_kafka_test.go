package pipeline

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/orderpipe/orderpipe/internal/elastic"
	"github.com/orderpipe/orderpipe/internal/generator"
	"github.com/orderpipe/orderpipe/internal/kafka"
	"github.com/orderpipe/orderpipe/internal/servicetest"
)

// watchedMember is a group member whose revocations and commits a test
// sees: it passes each revocation on (forward, until the test ends).
type watchedMember struct {
	*kafka.GroupMember
	revoked chan kafka.Revocation
	mu      sync.Mutex
	lost    map[int]bool
	commits [][]int // partitions of each commit, in order
}

func watch(t *testing.T, m *kafka.GroupMember) *watchedMember {
	w := &watchedMember{GroupMember: m, revoked: make(chan kafka.Revocation), lost: map[int]bool{}}
	from := m.Revocations()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case r := <-from:
				w.mu.Lock()
				for _, tp := range r.Partitions {
					w.lost[tp.Partition] = true
				}
				w.mu.Unlock()
				select {
				case w.revoked <- r:
				case <-done:
					return
				}
			case <-done:
				return
			}
		}
	}()
	t.Cleanup(func() { close(done); wg.Wait() })
	return w
}

func (w *watchedMember) Revocations() <-chan kafka.Revocation { return w.revoked }

func (w *watchedMember) CommitMessages(ctx context.Context, msgs ...kafkago.Message) error {
	w.mu.Lock()
	ps := make([]int, len(msgs))
	for i, m := range msgs {
		ps[i] = m.Partition
	}
	w.commits = append(w.commits, ps)
	w.mu.Unlock()
	return w.GroupMember.CommitMessages(ctx, msgs...)
}

func (w *watchedMember) state() (lost map[int]bool, commits int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	lost = make(map[int]bool, len(w.lost))
	for p := range w.lost {
		lost[p] = true
	}
	return lost, len(w.commits)
}

// countingIndexer counts, per document id, the documents one member sent.
type countingIndexer struct {
	Indexer
	mu   sync.Mutex
	sent map[string]int
}

func (c *countingIndexer) Bulk(ctx context.Context, docs []elastic.Doc) ([]elastic.Outcome, error) {
	c.mu.Lock()
	for _, d := range docs {
		c.sent[d.ID]++
	}
	c.mu.Unlock()
	return c.Indexer.Bulk(ctx, docs)
}

func (c *countingIndexer) count(ids ...string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, id := range ids {
		n += c.sent[id]
	}
	return n
}

// Two members of one group on the real Kafka: while member a has a
// document of each of its four partitions stuck (retried), member b joins
// and takes two of them. a is told which, stops retrying their documents
// (it would otherwise for ever: nothing of those partitions is fetched
// again), and never commits them again; it retries on the two it kept. Once
// the documents go through, every order is indexed at its last version, and
// every partition is committed to its end, by whichever member owns it.
func TestRebalanceRevokesTheBatchesOfTheLostPartitions(t *testing.T) {
	brokers := servicetest.KafkaBrokers(t)
	cfg := kafka.Config{Brokers: brokers, ClientID: "orderpipe-rebalance-test"}
	topic, group := servicetest.Name(t, "rebal"), servicetest.Name(t, "rebal")
	const partitions = 4
	servicetest.CreateTopic(t, brokers, topic, partitions)
	msgs, evs := events(t, 400, generator.Config{LifecycleShare: 0.8}, partitions)
	versions := map[string]int{}
	final := map[string]int{}
	for _, ev := range evs {
		versions[ev.OrderID]++
		final[ev.OrderID] = max(final[ev.OrderID], ev.Version)
	}
	// One order on each partition, with one message only, a few in.
	stuck := map[int]string{}
	for i, m := range msgs {
		if _, ok := stuck[m.Partition]; !ok && m.Offset >= 5 && versions[evs[i].OrderID] == 1 {
			stuck[m.Partition] = evs[i].OrderID
		}
	}
	if len(stuck) != partitions {
		t.Fatalf("no single-message order on every partition: %v", stuck)
	}
	servicetest.ProduceTo(t, brokers, topic, msgs)
	end := servicetest.EndOffsets(t, brokers, topic)

	es := newFakeES()
	unstick := es.stick(stuck[0], stuck[1], stuck[2], stuck[3])
	c := testConfig()
	c.BulkSize, c.Workers, c.RetryMax = 20, 4, 20*time.Millisecond
	join := func(name string) (*watchedMember, *countingIndexer, *Pipeline, func() error) {
		t.Helper()
		m, err := kafka.NewGroupMember(cfg, kafka.GroupMemberConfig{Topic: topic, GroupID: group, SessionTimeout: 6 * time.Second, QueueCapacity: 100},
			slog.New(slog.DiscardHandler).With("member", name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = m.Close() })
		w := watch(t, m)
		ix := &countingIndexer{Indexer: es, sent: map[string]int{}}
		p := newPipeline(t, c, w, ix, &fakeDLQ{}, Options{})
		return w, ix, p, start(t, p)
	}
	a, aSent, aPipe, stopA := join("a")
	servicetest.WaitFor(t, time.Minute, "a retrying the stuck document of every partition", func() bool {
		for _, id := range stuck {
			if aSent.count(id) < 3 {
				return false
			}
		}
		return true
	})
	b, _, bPipe, stopB := join("b")
	var lost map[int]bool
	servicetest.WaitFor(t, time.Minute, "a told it lost partitions", func() bool {
		lost, _ = a.state()
		return len(lost) > 0
	})
	if len(lost) != partitions/2 {
		t.Fatalf("a lost partitions %v, want half of %d", lost, partitions)
	}
	var lostIDs, keptIDs []string
	for p, id := range stuck {
		if lost[p] {
			lostIDs = append(lostIDs, id)
		} else {
			keptIDs = append(keptIDs, id)
		}
	}
	servicetest.WaitFor(t, time.Minute, "a abandoning batches", func() bool { return aPipe.Stats().Abandoned > 0 })
	// a's batches retry at one pace: ten retries of what it kept later,
	// those of what it lost have long seen the revocation.
	kept := aSent.count(keptIDs...)
	servicetest.WaitFor(t, time.Minute, "a retrying what it kept", func() bool { return aSent.count(keptIDs...) >= kept+10*len(keptIDs) })
	sentLost := aSent.count(lostIDs...)
	_, commitsBefore := a.state()

	unstick()
	admin, err := kafka.NewAdmin(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	servicetest.WaitFor(t, 2*time.Minute, "every partition committed to its end", func() bool {
		got, err := admin.GroupOffsets(ctx, group, topic, []int{0, 1, 2, 3})
		if err != nil {
			return false
		}
		for p, e := range end {
			if got[p] != e {
				return false
			}
		}
		return true
	})
	for _, stop := range []func() error{stopA, stopB} {
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	}
	if got := aSent.count(lostIDs...); got != sentLost {
		t.Errorf("a sent the stuck documents of the partitions it lost %d more times after abandoning them", got-sentLost)
	}
	a.mu.Lock()
	for _, ps := range a.commits[commitsBefore:] {
		for _, p := range ps {
			if lost[p] {
				t.Errorf("a committed partition %d after losing it (commit of partitions %v)", p, ps)
			}
		}
	}
	a.mu.Unlock()
	if lostB, _ := b.state(); len(lostB) != 0 {
		t.Errorf("b lost partitions %v, with no member joining after it", slices.Sorted(maps.Keys(lostB)))
	}
	for id, v := range final {
		if got := es.version(id); got != v {
			t.Errorf("order %s at version %d, want %d", id, got, v)
		}
	}
	t.Logf("a lost %v: a %+v; b %+v", lost, aPipe.Stats(), bPipe.Stats())
}
