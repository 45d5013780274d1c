package producer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/orderpipe/orderpipe/internal/generator"
	"github.com/orderpipe/orderpipe/internal/order"
)

// fakeWriter records what it acknowledges; it can fail the first attempts
// or block until its context ends.
type fakeWriter struct {
	mu      sync.Mutex
	acked   []kafkago.Message
	failOdd bool          // acknowledge every other message of each batch, fail the rest
	block   bool          // never acknowledge; return when ctx ends
	entered chan struct{} // closed on the first WriteAll call, if set
	once    sync.Once
}

var errBroker = errors.New("broker gone")

func (f *fakeWriter) WriteAll(ctx context.Context, msgs []kafkago.Message) ([]kafkago.Message, error) {
	if f.entered != nil {
		f.once.Do(func() { close(f.entered) })
	}
	if f.block {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failOdd {
		var acked []kafkago.Message
		for i := 0; i < len(msgs); i += 2 {
			acked = append(acked, msgs[i])
		}
		f.acked = append(f.acked, acked...)
		return acked, errBroker
	}
	f.acked = append(f.acked, msgs...)
	return msgs, nil
}

func (f *fakeWriter) messages() []kafkago.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]kafkago.Message(nil), f.acked...)
}

func newTestProducer(t *testing.T, cfg generator.Config, set Settings, w Writer) *Producer {
	t.Helper()
	gen, err := generator.New(cfg)
	if err != nil {
		t.Fatalf("new generator: %v", err)
	}
	if set.BatchSize == 0 {
		set.BatchSize = 100
	}
	if set.BatchBytes == 0 {
		set.BatchBytes = 1 << 20
	}
	if set.Linger == 0 {
		set.Linger = 5 * time.Millisecond
	}
	if set.ShutdownTimeout == 0 {
		set.ShutdownTimeout = time.Second
	}
	p, err := New(gen, w, set, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatalf("new producer: %v", err)
	}
	return p
}

// checkEvents decodes every message and returns the versions seen per order.
func checkEvents(t *testing.T, msgs []kafkago.Message) map[string][]int {
	t.Helper()
	versions := make(map[string][]int)
	for _, m := range msgs {
		o, err := order.Decode(m.Value)
		if err != nil {
			continue // malformed on purpose; counted by the caller
		}
		if string(m.Key) != o.OrderID {
			t.Fatalf("key %q is not the order_id %q", m.Key, o.OrderID)
		}
		versions[o.OrderID] = append(versions[o.OrderID], o.Version)
	}
	return versions
}

func TestRunProducesCountOrdersAndTheirWholeLifecycle(t *testing.T) {
	tests := []struct {
		name           string
		lifecycleShare float64
		malformed      float64
	}{
		{"created only", 0, 0},
		{"with lifecycle", 1, 0},
		{"with lifecycle and malformed", 0.8, 0.05},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &fakeWriter{}
			cfg := generator.DefaultConfig()
			cfg.Seed, cfg.LifecycleShare, cfg.MalformedShare, cfg.LifecycleDelay = 7, tt.lifecycleShare, tt.malformed, 0
			p := newTestProducer(t, cfg, Settings{Count: 2000}, w)
			if err := p.Run(context.Background()); err != nil {
				t.Fatalf("run: %v", err)
			}
			msgs := w.messages()
			if got := p.Stats.Produced.Load(); got != int64(len(msgs)) {
				t.Fatalf("stats say %d produced, writer acknowledged %d", got, len(msgs))
			}
			created := p.Stats.Orders.Load() + p.Stats.Malformed.Load()
			if created != 2000 {
				t.Fatalf("created %d orders and malformed messages, want 2000", created)
			}
			versions := checkEvents(t, msgs)
			if int64(len(versions)) != p.Stats.Orders.Load() {
				t.Fatalf("%d distinct valid orders, stats say %d", len(versions), p.Stats.Orders.Load())
			}
			for id, vs := range versions {
				for i, v := range vs {
					if v != i+1 {
						t.Fatalf("order %s: versions %v, want 1, 2, 3… in order", id, vs)
					}
				}
				if tt.lifecycleShare == 0 && len(vs) != 1 {
					t.Fatalf("order %s has follow-ups with lifecycle off: %v", id, vs)
				}
			}
			if tt.lifecycleShare == 1 && p.Stats.FollowUps.Load() < 2000 {
				t.Fatalf("only %d follow-ups for 2000 orders with lifecycle share 1", p.Stats.FollowUps.Load())
			}
			if p.gen.Pending() != 0 {
				t.Fatalf("%d follow-ups left pending after Run returned", p.gen.Pending())
			}
		})
	}
}

// recordingObserver keeps what BatchWritten was told and adds up resends.
type recordingObserver struct {
	mu                   sync.Mutex
	written              []kafkago.Message
	resent, mayDuplicate int
}

func (o *recordingObserver) Resending(messages, mayDuplicate int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.resent += messages
	o.mayDuplicate += mayDuplicate
}

func (o *recordingObserver) BatchWritten(msgs []kafkago.Message, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.written = append(o.written, msgs...)
}

func (o *recordingObserver) Generated(generator.Event) {}

func keys(msgs []kafkago.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = string(m.Key)
	}
	return out
}

func TestUndeliveredMessagesAreAbandonedNotCountedAsProduced(t *testing.T) {
	// Every other message fails, as when one partition's leader is gone:
	// the acknowledged ones are spread through the batch, not a prefix of it.
	w := &fakeWriter{failOdd: true}
	obs := &recordingObserver{}
	cfg := generator.DefaultConfig()
	cfg.Seed, cfg.LifecycleShare = 3, 0
	gen, err := generator.New(cfg)
	if err != nil {
		t.Fatalf("new generator: %v", err)
	}
	p, err := New(gen, w, Settings{Count: 1000, BatchSize: 100, BatchBytes: 1 << 20, Linger: time.Millisecond, ShutdownTimeout: time.Second}, slog.New(slog.NewTextHandler(io.Discard, nil)), obs)
	if err != nil {
		t.Fatalf("new producer: %v", err)
	}
	err = p.Run(context.Background())
	if !errors.Is(err, ErrAbandoned) || !errors.Is(err, errBroker) {
		t.Fatalf("run returned %v, want ErrAbandoned caused by the broker error", err)
	}
	// A writer that failed for good stops generation: the run ends long
	// before the 1000 orders.
	if generated := p.Stats.Orders.Load(); generated >= 1000 {
		t.Fatalf("generated all %d orders although every write failed", generated)
	}
	acked := int64(len(w.messages()))
	if generated := p.Stats.Orders.Load(); p.Stats.Produced.Load() != acked || p.Stats.Abandoned.Load() != generated-acked {
		t.Fatalf("produced %d, abandoned %d; the writer acknowledged %d of %d generated",
			p.Stats.Produced.Load(), p.Stats.Abandoned.Load(), acked, generated)
	}
	var ackedBytes int64
	for _, m := range w.messages() {
		ackedBytes += int64(len(m.Value))
	}
	if p.Stats.Bytes.Load() != ackedBytes {
		t.Errorf("stats count %d bytes, the acknowledged messages hold %d", p.Stats.Bytes.Load(), ackedBytes)
	}
	if got, want := keys(obs.written), keys(w.messages()); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the observer was not told of exactly the acknowledged messages (%d told, %d acknowledged)", len(got), len(want))
	}
}

// waitFor polls cond until it holds, failing the test after a generous bound.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestShutdownFlushesBufferedMessages(t *testing.T) {
	w := &fakeWriter{}
	cfg := generator.DefaultConfig()
	cfg.Seed = 11
	// A long linger keeps messages buffered when the context ends.
	p := newTestProducer(t, cfg, Settings{Rate: 500, BatchSize: 1 << 20, Linger: time.Hour}, w)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	waitFor(t, "orders to be buffered", func() bool { return p.Stats.Orders.Load() >= 20 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	generated := p.Stats.Orders.Load() + p.Stats.FollowUps.Load() + p.Stats.Malformed.Load()
	if generated == 0 {
		t.Fatal("nothing was generated before the shutdown")
	}
	if got := int64(len(w.messages())); got != generated || p.Stats.Produced.Load() != generated {
		t.Fatalf("generated %d, acknowledged %d, produced %d: the buffer was not flushed", generated, got, p.Stats.Produced.Load())
	}
}

func TestShutdownReportsWhatItCouldNotDeliver(t *testing.T) {
	w := &fakeWriter{block: true, entered: make(chan struct{})}
	cfg := generator.DefaultConfig()
	cfg.Seed = 5
	p := newTestProducer(t, cfg, Settings{Rate: 0, BatchSize: 10, ShutdownTimeout: 100 * time.Millisecond}, w)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	<-w.entered // a batch is stuck in the writer
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, ErrAbandoned) {
			t.Fatalf("run returned %v, want ErrAbandoned", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within the shutdown timeout")
	}
	if p.Stats.Produced.Load() != 0 {
		t.Fatalf("produced %d with a writer that never acknowledged", p.Stats.Produced.Load())
	}
	generated := p.Stats.Orders.Load() + p.Stats.FollowUps.Load() + p.Stats.Malformed.Load()
	if p.Stats.Abandoned.Load() != generated {
		t.Fatalf("abandoned %d of %d generated", p.Stats.Abandoned.Load(), generated)
	}
}

func TestBackfillSpreadsEventsOverThePastDays(t *testing.T) {
	w := &fakeWriter{}
	cfg := generator.DefaultConfig()
	cfg.Seed, cfg.LifecycleDelay = 9, time.Hour
	p := newTestProducer(t, cfg, Settings{Count: 1, BackfillDays: 3, BackfillOrdersPerDay: 500}, w)
	start := time.Now()
	p.now = func() time.Time { return start }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	// Follow-ups due after "now" stay pending with the frozen clock, so stop
	// once the backfill is out.
	deadline := time.Now().Add(30 * time.Second)
	for !p.Stats.BackfillDone.Load() || p.Stats.Orders.Load() < 1501 {
		if time.Now().After(deadline) {
			t.Fatal("backfill did not finish")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	var perDay [3]int
	for _, m := range w.messages() {
		o, err := order.Decode(m.Value)
		if err != nil || o.Version != 1 {
			continue
		}
		age := start.Sub(o.CreatedAt)
		if age < 0 || age > 72*time.Hour+time.Second {
			t.Fatalf("order created at %s is outside the 3 backfilled days", o.CreatedAt)
		}
		if day := int(age / (24 * time.Hour)); day < 3 {
			perDay[day]++
		}
	}
	for day, n := range perDay {
		if n < 400 || n > 600 {
			t.Fatalf("day -%d holds %d orders, want about 500 (%v)", day+1, n, perDay)
		}
	}
}

func TestWarpIsMonotonicAndBusierAtMidday(t *testing.T) {
	span := 24 * time.Hour
	prev := time.Duration(-1)
	var night, midday int
	for i := 0; i < 10000; i++ {
		d := warp(float64(i)/10000, 1, span)
		if d <= prev {
			t.Fatalf("warp not increasing at %d: %v after %v", i, d, prev)
		}
		prev = d
		switch h := d.Hours(); {
		case h < 4:
			night++
		case h >= 10 && h < 14:
			midday++
		}
	}
	if midday <= 2*night {
		t.Fatalf("midday %d orders vs night %d: expected clearly busier middays", midday, night)
	}
}

// New takes the batching settings it is given or refuses them: a zero
// value is a caller that forgot it, not a default to fill in.
func TestNewRefusesMissingSettings(t *testing.T) {
	gen, err := generator.New(generator.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	good := Settings{BatchSize: 100, BatchBytes: 1 << 20, Linger: time.Millisecond, ShutdownTimeout: time.Second}
	tests := []struct {
		name   string
		mutate func(*Settings)
		want   string // "" when valid
	}{
		{"complete", func(*Settings) {}, ""},
		{"negative rate", func(s *Settings) { s.Rate = -1 }, "rate"},
		{"negative count", func(s *Settings) { s.Count = -1 }, "count"},
		{"no batch size", func(s *Settings) { s.BatchSize = 0 }, "batch size"},
		{"no batch bytes", func(s *Settings) { s.BatchBytes = 0 }, "batch bytes"},
		{"no linger", func(s *Settings) { s.Linger = 0 }, "linger"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set := good
			tc.mutate(&set)
			p, err := New(gen, &fakeWriter{}, set, slog.New(slog.DiscardHandler), nil)
			if tc.want == "" {
				if err != nil || p == nil {
					t.Fatalf("New = %v, %v; want a producer", p, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v; want an error naming the %s", err, tc.want)
			}
		})
	}
}
