package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/orderpipe/orderpipe/internal/deadletter"
	"github.com/orderpipe/orderpipe/internal/elastic"
	"github.com/orderpipe/orderpipe/internal/generator"
	"github.com/orderpipe/orderpipe/internal/retry"
	"github.com/orderpipe/orderpipe/internal/servicetest"
)

// The fakes and helpers the pipeline tests share: a fetcher, an
// Elasticsearch and a dead-letter writer that record what they were given.

// fakeFetcher hands out msgs in order, then blocks like an idle topic. It
// behaves like a Kafka group member where the pipeline can tell: the last
// commit of a partition wins, not the highest; and rebalance starts a new
// generation that delivers every partition again from its committed
// offset, or from a higher one another member committed, while the
// batches fetched before it may still be in flight.
type fakeFetcher struct {
	mu        sync.Mutex
	msgs      []kafkago.Message
	all       []kafkago.Message // every message, once rebalance replaced msgs
	gen       int
	last      map[int]int64 // per partition, the offset the last commit stored
	next      int
	commits   [][]kafkago.Message
	commitErr []error // returned by successive commits, then nil
	// onCommit, if set, sees every message committed, before the commit
	// is recorded.
	onCommit func(kafkago.Message)
	// hangCommits makes every commit block until its context ends, like
	// a group coordinator that stopped answering; commitsEntered counts
	// the commits begun.
	hangCommits    bool
	commitsEntered int
}

func (f *fakeFetcher) FetchMessage(ctx context.Context) (kafkago.Message, error) {
	for {
		f.mu.Lock()
		if f.next < len(f.msgs) {
			m := f.msgs[f.next]
			f.next++
			f.mu.Unlock()
			return m, nil
		}
		f.mu.Unlock()
		select {
		case <-ctx.Done():
			return kafkago.Message{}, ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}

func (f *fakeFetcher) CommitMessages(ctx context.Context, msgs ...kafkago.Message) error {
	f.mu.Lock()
	f.commitsEntered++
	if f.hangCommits {
		f.mu.Unlock()
		<-ctx.Done()
		return ctx.Err()
	}
	defer f.mu.Unlock()
	if len(f.commitErr) > 0 {
		err := f.commitErr[0]
		f.commitErr = f.commitErr[1:]
		if err != nil {
			return err
		}
	}
	if f.onCommit != nil {
		for _, m := range msgs {
			f.onCommit(m)
		}
	}
	f.commits = append(f.commits, append([]kafkago.Message(nil), msgs...))
	if f.last == nil {
		f.last = map[int]int64{}
	}
	for _, m := range msgs {
		f.last[m.Partition] = m.Offset + 1 // Kafka stores what it is told, lower or not
	}
	return nil
}

// committed returns the committed offset (the last commit's offset + 1)
// per partition.
func (f *fakeFetcher) committed() map[int]int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[int]int64, len(f.last))
	for p, o := range f.last {
		out[p] = o
	}
	return out
}

// rebalance starts a new generation: every partition is delivered again
// from its committed offset, or from the offset in elsewhere, which another
// member committed meanwhile (and which becomes the committed offset).
// What was fetched before is not taken back: its batches may still be in
// flight, as after a real rebalance.
func (f *fakeFetcher) rebalance(elsewhere map[int]int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.all == nil {
		f.all = f.msgs
	}
	if f.last == nil {
		f.last = map[int]int64{}
	}
	for p, o := range elsewhere {
		f.last[p] = o
	}
	var again []kafkago.Message
	for _, m := range f.all {
		if m.Offset >= f.last[m.Partition] {
			again = append(again, m)
		}
	}
	f.msgs, f.next = again, 0
	f.gen++
}

// fakeES emulates external versioning and lets a test script per-item answers.
type fakeES struct {
	mu       sync.Mutex
	docs     map[string]int // id -> version
	calls    [][]elastic.Doc
	override func(call int, d elastic.Doc) (elastic.Outcome, bool)
	reqErr   func(call int) error
	// reqErrFor, if set, may fail a request as a whole by its documents.
	reqErrFor func(docs []elastic.Doc) error
	block     chan struct{} // if set, Bulk waits for it to close
	entered   chan struct{} // if set, Bulk sends on it (when it can) on entry
	// gate, if set, is called on entry with no lock held, so it can hold
	// back one request while others go through.
	gate func(ctx context.Context, docs []elastic.Doc)
	// forget keeps no documents of the calls (sent then counts nothing),
	// for a test of a million messages.
	forget bool
}

func newFakeES() *fakeES { return &fakeES{docs: map[string]int{}} }

func (f *fakeES) Bulk(ctx context.Context, docs []elastic.Doc) ([]elastic.Outcome, error) {
	if f.gate != nil {
		f.gate(ctx, docs)
	}
	if f.entered != nil {
		select {
		case f.entered <- struct{}{}:
		default:
		}
	}
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	call := len(f.calls)
	if f.forget {
		f.calls = append(f.calls, nil)
	} else {
		f.calls = append(f.calls, append([]elastic.Doc(nil), docs...))
	}
	if f.reqErr != nil {
		if err := f.reqErr(call); err != nil {
			return nil, err
		}
	}
	if f.reqErrFor != nil {
		if err := f.reqErrFor(docs); err != nil {
			return nil, err
		}
	}
	out := make([]elastic.Outcome, len(docs))
	for i, d := range docs {
		if f.override != nil {
			if o, ok := f.override(call, d); ok {
				out[i] = o
				continue
			}
		}
		if v, ok := f.docs[d.ID]; ok && v >= d.Version {
			out[i] = elastic.Outcome{Result: elastic.Conflict, Status: 409, Reason: "version_conflict_engine_exception: newer"}
			continue
		}
		f.docs[d.ID] = d.Version
		out[i] = elastic.Outcome{Result: elastic.Indexed, Status: 201}
	}
	return out, nil
}

func (f *fakeES) sent(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		for _, d := range c {
			if d.ID == id {
				n++
			}
		}
	}
	return n
}

func (f *fakeES) version(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.docs[id]
}

type fakeDLQ struct {
	mu    sync.Mutex
	msgs  []kafkago.Message
	err   error
	fails int // with err: how many calls fail before the writes succeed (0: all)
	calls int
	// maxBytes, if set, is the topic's size limit: a call with a message
	// over it is refused whole, as Kafka refuses a partition's batch.
	maxBytes int
	refused  int
}

func (d *fakeDLQ) WriteDeadLetters(ctx context.Context, msgs []kafkago.Message) ([]kafkago.Message, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls++
	if d.err != nil && (d.fails == 0 || d.calls <= d.fails) {
		return msgs, d.err
	}
	for _, m := range msgs {
		if d.maxBytes > 0 && deadletter.Size(m) > d.maxBytes {
			d.refused++
			return msgs, retry.Permanent(fmt.Errorf("write messages: %w", kafkago.MessageSizeTooLarge))
		}
	}
	d.msgs = append(d.msgs, msgs...)
	return nil, nil
}

func (d *fakeDLQ) all() []kafkago.Message {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]kafkago.Message(nil), d.msgs...)
}

// events generates n orders and their follow-ups as Kafka messages spread
// over partitions by the last byte of the key.
func events(t testing.TB, n int, cfg generator.Config, partitions int) ([]kafkago.Message, []generator.Event) {
	t.Helper()
	if cfg.Seed == 0 {
		cfg.Seed = 42
	}
	evs := servicetest.Orders(t, cfg, n, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	offsets := make([]int64, partitions)
	msgs := make([]kafkago.Message, len(evs))
	for i, ev := range evs {
		p := int(ev.Key[len(ev.Key)-1]) % partitions
		msgs[i] = kafkago.Message{Topic: "orders", Partition: p, Offset: offsets[p], Key: ev.Key, Value: ev.Value}
		offsets[p]++
	}
	return msgs, evs
}

// start runs p until the test ends or stop is called; stop waits for Run.
func start(t *testing.T, p *Pipeline) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				err = errors.New("Run did not return within 10s of shutdown")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func endOffsets(msgs []kafkago.Message) map[int]int64 {
	out := map[int]int64{}
	for _, m := range msgs {
		out[m.Partition] = max(out[m.Partition], m.Offset+1)
	}
	return out
}

func sameOffsets(a, b map[int]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func header(m kafkago.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// stick makes Elasticsearch answer every request for the documents ids
// with a retryable 429 until the returned func is called.
func (f *fakeES) stick(ids ...string) (unstick func()) {
	var mu sync.Mutex
	stuck := true
	f.override = func(_ int, d elastic.Doc) (elastic.Outcome, bool) {
		mu.Lock()
		defer mu.Unlock()
		if stuck && slices.Contains(ids, d.ID) {
			return elastic.Outcome{Result: elastic.Retry, Status: 429, Reason: "es_rejected_execution_exception: stuck for the test"}, true
		}
		return elastic.Outcome{}, false
	}
	return func() {
		mu.Lock()
		defer mu.Unlock()
		stuck = false
	}
}

// hang makes every request holding document id hang until release is
// closed (or its context ends); held is closed when the first one does.
func (f *fakeES) hang(id string, release <-chan struct{}) (held <-chan struct{}) {
	h := make(chan struct{})
	var once sync.Once
	f.gate = func(ctx context.Context, docs []elastic.Doc) {
		for _, d := range docs {
			if d.ID == id {
				once.Do(func() { close(h) })
				select {
				case <-release:
				case <-ctx.Done():
				}
			}
		}
	}
	return h
}
