package pipeline

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/orderpipe/orderpipe/internal/generator"
	"github.com/orderpipe/orderpipe/internal/servicetest"
)

// streamFetcher has available messages on each partition, made when
// fetched (so a test can offer a million without holding them), round
// robin over the partitions; each is a copy of one of a few valid orders,
// so that Elasticsearch finds most of them already indexed (409, handled).
type streamFetcher struct {
	mu        sync.Mutex
	pool      []kafkago.Message
	victim    kafkago.Message // served once, at partition 0 offset 7
	available int64           // per partition
	next      []int64
	turn      int
	fetched   int64
	committed map[int]int64 // last commit wins, as in Kafka
}

func newStreamFetcher(t *testing.T, partitions int, available int64) *streamFetcher {
	msgs, _ := events(t, 21, generator.Config{}, 1)
	return &streamFetcher{pool: msgs[:20], victim: msgs[20], available: available, next: make([]int64, partitions), committed: map[int]int64{}}
}

func (f *streamFetcher) FetchMessage(ctx context.Context) (kafkago.Message, error) {
	for {
		f.mu.Lock()
		for range f.next {
			p := f.turn
			f.turn = (f.turn + 1) % len(f.next)
			if o := f.next[p]; o < f.available {
				f.next[p]++
				f.fetched++
				src := f.pool[o%int64(len(f.pool))]
				if p == 0 && o == 7 {
					src = f.victim
				}
				f.mu.Unlock()
				return kafkago.Message{Topic: "orders", Partition: p, Offset: o, Key: src.Key, Value: src.Value}, nil
			}
		}
		f.mu.Unlock()
		select {
		case <-ctx.Done():
			return kafkago.Message{}, ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}

func (f *streamFetcher) CommitMessages(_ context.Context, msgs ...kafkago.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, m := range msgs {
		f.committed[m.Partition] = m.Offset + 1
	}
	return nil
}

func (f *streamFetcher) state() (fetched int64, committed map[int]int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := make(map[int]int64, len(f.committed))
	for k, v := range f.committed {
		c[k] = v
	}
	return f.fetched, c
}

// One document that Elasticsearch keeps refusing with a retryable error
// while a million messages are available on its partition: the messages
// held behind it stay within MaxUncommitted, the fetch stops (kafka-go's
// Reader offers no way to stop one partition, so all of them wait), and
// readiness and the log name the partition; once the document goes
// through, everything flows again. The million is what is offered; the
// bound is what keeps the test from fetching it, so it stays fast.
func TestStuckDocumentHoldsBackWithinTheBound(t *testing.T) {
	const available = 1_000_000
	f := newStreamFetcher(t, 3, available)
	es := newFakeES()
	unstick := es.stick(string(f.victim.Key)) // partition 0 offset 7
	c := testConfig()
	c.BulkSize, c.Workers, c.MaxUncommitted = 100, 2, 5_000
	var logs servicetest.SyncBuffer
	health := newTestHealth()
	p := newPipeline(t, c, f, es, &fakeDLQ{}, Options{Health: health, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	stop := start(t, p)

	eventually(t, "the fetch held back", func() bool { return strings.Contains(health.Reason(), "held back") })
	fetched, _ := f.state()
	time.Sleep(200 * time.Millisecond)
	if again, _ := f.state(); again > fetched+int64(c.BulkSize) {
		t.Errorf("fetched %d more messages while held back", again-fetched)
	}
	if peak := p.Stats().PeakUncommitted; peak > int64(c.MaxUncommitted) {
		t.Errorf("%d messages of one partition waiting, over the bound %d", peak, c.MaxUncommitted)
	}
	if r := health.Reason(); !strings.Contains(r, "partition 0 held back") || !strings.Contains(r, "behind offset ") {
		t.Errorf("readiness %q does not name partition 0 and the offset it waits behind", r)
	}
	if !strings.Contains(logs.String(), "partition 0 held back") {
		t.Errorf("the log does not say partition 0 is held back:\n%s", logs.String())
	}
	t.Logf("held back after fetching %d of %d available messages: %s", fetched, 3*available, health.Reason())

	unstick()
	eventually(t, "the stream flowing again past the bound", func() bool {
		_, committed := f.state()
		return committed[0] > int64(2*c.MaxUncommitted) && !strings.Contains(health.Reason(), "held back")
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if peak := p.Stats().PeakUncommitted; peak > int64(c.MaxUncommitted) {
		t.Errorf("%d messages of one partition waiting at the peak, over the bound %d", peak, c.MaxUncommitted)
	}
}
