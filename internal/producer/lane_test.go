package producer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/orderpipe/orderpipe/internal/generator"
	"github.com/orderpipe/orderpipe/internal/order"
	"github.com/orderpipe/orderpipe/internal/settings"
)

// flakyBroker is a kafka.MessageWriter that refuses every fourth call
// whole (NOT_LEADER, refused before any append, as during a leader change)
// and logs the messages of the calls it accepts, in the order it accepted
// them, as a partition's log would hold them.
type flakyBroker struct {
	mu     sync.Mutex
	calls  int
	log    []kafkago.Message
	inCall int // calls in progress, to see that lanes do overlap
	most   int
}

func (b *flakyBroker) WriteMessages(_ context.Context, msgs ...kafkago.Message) error {
	b.mu.Lock()
	b.calls++
	fail := b.calls%4 == 1
	b.inCall++
	b.most = max(b.most, b.inCall)
	b.mu.Unlock()
	time.Sleep(2 * time.Millisecond) // a round trip, during which other lanes write
	b.mu.Lock()
	defer b.mu.Unlock()
	b.inCall--
	if fail {
		return kafkago.NotLeaderForPartition
	}
	b.log = append(b.log, msgs...)
	return nil
}

// TestLanesKeepEachOrdersEventsInOrderAcrossRetries: with several lanes
// writing at once and a quarter of the writes refused and retried, every
// order's events still reach the broker in version order, each exactly
// once, and all are counted.
func TestLanesKeepEachOrdersEventsInOrderAcrossRetries(t *testing.T) {
	broker := &flakyBroker{}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	out := NewKafkaWriter(broker, log, nil, nil)
	cfg := generator.DefaultConfig()
	cfg.Seed, cfg.LifecycleShare, cfg.CancelShare, cfg.LifecycleDelay = 5, 1, 0, 0
	p := newTestProducer(t, cfg, Settings{Count: 400, BatchSize: 20, Lanes: 4}, out)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := p.Run(ctx); err != nil {
		t.Fatalf("run: %v", err)
	}
	if out.Stats.Failed.Load() == 0 {
		t.Fatal("no write was refused: the test proves nothing")
	}
	if broker.most < 2 {
		t.Errorf("at most %d write in flight at once, want the lanes to overlap", broker.most)
	}
	last := map[string]int{}
	for _, m := range broker.log {
		o, err := order.Decode(m.Value)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if o.Version != last[o.OrderID]+1 {
			t.Fatalf("order %s: version %d logged after version %d", o.OrderID, o.Version, last[o.OrderID])
		}
		last[o.OrderID] = o.Version
	}
	if len(last) != 400 || int64(len(broker.log)) != p.Stats.Produced.Load() {
		t.Fatalf("%d orders, %d messages logged, %d counted produced", len(last), len(broker.log), p.Stats.Produced.Load())
	}
}

func TestRouterSendsAKeyAlwaysToOneLaneAndSpreadsKeys(t *testing.T) {
	r := newRouter(6)
	seen := map[int]int{}
	for i := range 6000 {
		key := fmt.Appendf(nil, "ord-%d", i)
		l := r.lane(key)
		if again := r.lane(key); again != l {
			t.Fatalf("key %q went to lanes %d and %d", key, l, again)
		}
		seen[l]++
	}
	for l := range 6 {
		if seen[l] < 500 {
			t.Errorf("lane %d got %d of 6000 keys (%v)", l, seen[l], seen)
		}
	}
	// The lane is the partition the writer's murmur2 balancer picks.
	parts := []int{0, 1, 2, 3, 4, 5}
	for _, k := range []string{"ord-1", "ord-2", "x"} {
		if got, want := r.lane([]byte(k)), (&kafkago.Murmur2Balancer{}).Balance(kafkago.Message{Key: []byte(k)}, parts...); got != want {
			t.Errorf("key %q: lane %d, partition %d", k, got, want)
		}
	}
}

// TestLaneBatchesStayWithinTheWritersBatchBytes: counted as the writer
// counts them, no batch a lane hands over is over the bytes limit (else
// kafka-go would split it into two requests for one partition), and a
// message that does not fit sends the batch at once, without its linger.
func TestLaneBatchesStayWithinTheWritersBatchBytes(t *testing.T) {
	const maxBytes = 4096
	l := newLane(1000, maxBytes, time.Hour) // a linger the test would notice
	var batches [][]kafkago.Message
	done := make(chan struct{})
	go func() {
		defer close(done)
		for b := l.take(); b != nil; b = l.take() {
			batches = append(batches, b)
		}
	}()
	added := make(chan struct{})
	go func() {
		defer close(added)
		for i := range 100 {
			l.add(kafkago.Message{Key: fmt.Appendf(nil, "k%d", i), Value: make([]byte, 100+i*7%300)})
		}
	}()
	select {
	case <-added:
	case <-time.After(30 * time.Second):
		t.Fatal("adding 100 messages blocked: a full batch waited for its hour-long linger")
	}
	l.close()
	<-done
	n := 0
	for _, b := range batches {
		var writerBytes int
		for _, m := range b {
			writerBytes += 22 + 1 + len(m.Key) + len(m.Value) // kafka-go's Message.totalSize
		}
		if writerBytes > maxBytes {
			t.Errorf("a batch of %d messages is %d bytes to the writer, over %d", len(b), writerBytes, maxBytes)
		}
		n += len(b)
	}
	if n != 100 || len(batches) < 5 {
		t.Errorf("%d messages in %d batches", n, len(batches))
	}
}

func TestLanesFor(t *testing.T) {
	tests := []struct {
		configured, partitions, want int
		wantErr                      bool
	}{
		{0, 6, 6, false},  // one per partition
		{0, 1, 1, false},  // a single partition
		{0, 7, 7, false},  // prime, within the automatic bound
		{0, 12, 6, false}, // the largest divisor up to 8
		{0, 16, 8, false}, // the bound itself
		{0, 48, 8, false}, // many partitions: memory bounds the lanes
		{0, 17, 1, false}, // prime above the bound: one lane
		{1, 6, 1, false},  // one batch at a time
		{3, 6, 3, false},  // a divisor
		{6, 6, 6, false},  // the partition count
		{4, 6, 0, true},   // partition 0 would get keys from lanes 0 and 2
		{12, 6, 0, true},  // more lanes than partitions
		{64, 128, 64, false},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d lanes on %d partitions", tc.configured, tc.partitions), func(t *testing.T) {
			got, err := lanesFor(tc.configured, tc.partitions)
			var se *settings.Error
			switch {
			case tc.wantErr && (!errors.As(err, &se) || se.Variable != "PRODUCER_LANES"):
				t.Fatalf("error %v, want a settings.Error naming PRODUCER_LANES", err)
			case !tc.wantErr && (err != nil || got != tc.want):
				t.Fatalf("got %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}

// TestEveryPartitionHasOneLane: with lanes dividing the partitions, the
// router and kafka-go's murmur2 balancer agree, so all of a partition's
// keys go through one lane, the one sender that orders its batches.
func TestEveryPartitionHasOneLane(t *testing.T) {
	for _, c := range []struct{ lanes, partitions int }{{1, 6}, {2, 6}, {3, 6}, {6, 6}, {4, 12}, {8, 16}} {
		r := newRouter(c.lanes)
		parts := make([]int, c.partitions)
		for i := range parts {
			parts[i] = i
		}
		bal := kafkago.Murmur2Balancer{Consistent: true}
		laneOf := map[int]int{}
		for i := range 5_000 {
			key := []byte(fmt.Sprintf("order-%d", i))
			p, l := bal.Balance(kafkago.Message{Key: key}, parts...), r.lane(key)
			if was, ok := laneOf[p]; ok && was != l {
				t.Fatalf("%d lanes on %d partitions: partition %d gets keys from lanes %d and %d", c.lanes, c.partitions, p, was, l)
			}
			laneOf[p] = l
		}
		if len(laneOf) != c.partitions {
			t.Fatalf("%d lanes on %d partitions: keys reached %d partitions", c.lanes, c.partitions, len(laneOf))
		}
	}
}
