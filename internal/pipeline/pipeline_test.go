package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/orderpipe/orderpipe/internal/deadletter"
	"github.com/orderpipe/orderpipe/internal/elastic"
	"github.com/orderpipe/orderpipe/internal/generator"
	"github.com/orderpipe/orderpipe/internal/kafka"
	"github.com/orderpipe/orderpipe/internal/order"
	"github.com/orderpipe/orderpipe/internal/servicetest"
)

// fakeFetcher hands out msgs in order, then blocks like an idle topic.
type fakeFetcher struct {
	mu        sync.Mutex
	msgs      []kafkago.Message
	next      int
	commits   [][]kafkago.Message
	commitErr []error // returned by successive commits, then nil
	// onCommit, if set, sees every message committed, before the commit
	// is recorded.
	onCommit func(kafkago.Message)
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

func (f *fakeFetcher) CommitMessages(_ context.Context, msgs ...kafkago.Message) error {
	f.mu.Lock()
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
	return nil
}

// committed returns the committed offset (last message's offset + 1) per partition.
func (f *fakeFetcher) committed() map[int]int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[int]int64{}
	for _, c := range f.commits {
		for _, m := range c {
			if m.Offset+1 > out[m.Partition] {
				out[m.Partition] = m.Offset + 1
			}
		}
	}
	return out
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
	f.calls = append(f.calls, append([]elastic.Doc(nil), docs...))
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
}

func (d *fakeDLQ) WriteDeadLetters(ctx context.Context, msgs []kafkago.Message) ([]kafkago.Message, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls++
	if d.err != nil && (d.fails == 0 || d.calls <= d.fails) {
		return msgs, d.err
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

func TestCommitsOnlyAfterHandling(t *testing.T) {
	msgs, _ := events(t, 20, generator.Config{}, 3)
	f := &fakeFetcher{msgs: msgs}
	es := newFakeES()
	es.block = make(chan struct{})
	es.entered = make(chan struct{}, 1)
	p := newPipeline(t, testConfig(), f, es, &fakeDLQ{}, Options{})
	stop := start(t, p)

	select { // a batch is fetched and its bulk request waits on ES
	case <-es.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("no bulk request reached Elasticsearch")
	}
	if c := f.committed(); len(c) != 0 {
		t.Fatalf("committed %v while the bulk request was still in flight", c)
	}
	close(es.block)
	eventually(t, "every offset committed", func() bool { return sameOffsets(f.committed(), endOffsets(msgs)) })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestRetriesPerItemFailures(t *testing.T) {
	tests := []struct {
		name      string
		outcome   elastic.Outcome
		reqErr    error
		wantCause string
	}{
		{"429 inside a 200", elastic.Outcome{Result: elastic.Retry, Status: 429, Reason: "es_rejected_execution_exception: queue full"}, nil, "too_many_requests"},
		{"503 item", elastic.Outcome{Result: elastic.Retry, Status: 503, Reason: "unavailable_shards_exception"}, nil, "server_error"},
		{"connection refused", elastic.Outcome{}, errors.New("dial tcp: connection refused"), "unavailable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msgs, evs := events(t, 5, generator.Config{}, 1) // lifecycle 0: one event per order
			victim := evs[2].OrderID
			f := &fakeFetcher{msgs: msgs}
			es := newFakeES()
			failures := 3
			es.override = func(call int, d elastic.Doc) (elastic.Outcome, bool) {
				if tc.reqErr == nil && d.ID == victim && failures > 0 {
					failures--
					return tc.outcome, true
				}
				return elastic.Outcome{}, false
			}
			es.reqErr = func(call int) error {
				if tc.reqErr != nil && call < 3 {
					return tc.reqErr
				}
				return nil
			}
			m := NewMetrics(nil)
			health := newTestHealth()
			c := testConfig()
			c.Workers = 1 // one request per round, so every round fails the victim
			p := newPipeline(t, c, f, es, &fakeDLQ{}, Options{Metrics: m, Health: health})
			stop := start(t, p)
			eventually(t, "every offset committed", func() bool { return sameOffsets(f.committed(), endOffsets(msgs)) })
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if got := es.version(victim); got != 1 {
				t.Fatalf("victim stored at version %d, want 1", got)
			}
			if got := es.sent(victim); got != 4 {
				t.Errorf("victim sent %d times, want 4 (3 failures + success)", got)
			}
			if got := counterValue(t, m.Retries.WithLabelValues(tc.wantCause)); got < 3 {
				t.Errorf("retries{cause=%s} = %v, want >= 3", tc.wantCause, got)
			}
			if r := health.Reason(); r != "" {
				t.Errorf("still not ready after recovery: %q", r)
			}
		})
	}
}

func TestConflictCountsAsHandled(t *testing.T) {
	msgs, evs := events(t, 4, generator.Config{}, 2)
	f := &fakeFetcher{msgs: msgs}
	es := newFakeES()
	for _, ev := range evs {
		es.docs[ev.OrderID] = 4 // ES already has newer versions of every order
	}
	dlq := &fakeDLQ{}
	p := newPipeline(t, testConfig(), f, es, dlq, Options{})
	stop := start(t, p)
	eventually(t, "every offset committed", func() bool { return sameOffsets(f.committed(), endOffsets(msgs)) })
	_ = stop()
	if s := p.Stats(); s.Conflicts != int64(len(evs)) || s.Indexed != 0 {
		t.Fatalf("stats %+v, want %d conflicts and nothing indexed", s, len(evs))
	}
	if len(dlq.all()) != 0 {
		t.Fatal("conflicts went to the DLQ")
	}
}

func TestRejectedGoesToDLQWithReasonAndHeaders(t *testing.T) {
	msgs, evs := events(t, 6, generator.Config{}, 2)
	victim := evs[1]
	f := &fakeFetcher{msgs: msgs}
	es := newFakeES()
	const reason = "document_parsing_exception: [1:10] failed to parse field [shipping.location]"
	es.override = func(_ int, d elastic.Doc) (elastic.Outcome, bool) {
		if d.ID == victim.OrderID {
			return elastic.Outcome{Result: elastic.Rejected, Status: 400, Reason: reason}, true
		}
		return elastic.Outcome{}, false
	}
	dlq := &fakeDLQ{}
	p := newPipeline(t, testConfig(), f, es, dlq, Options{})
	stop := start(t, p)
	eventually(t, "every offset committed", func() bool { return sameOffsets(f.committed(), endOffsets(msgs)) })
	_ = stop()
	got := dlq.all()
	if len(got) != 1 {
		t.Fatalf("%d dead letters, want 1", len(got))
	}
	src := msgs[1]
	checkDeadLetter(t, got[0], src, "rejected by elasticsearch: 400 "+reason)
	for _, ev := range evs {
		if ev.OrderID != victim.OrderID && es.version(ev.OrderID) != ev.Version {
			t.Errorf("order %s not indexed after the rejection", ev.OrderID)
		}
	}
}

func checkDeadLetter(t *testing.T, got, src kafkago.Message, wantReasonPrefix string) {
	t.Helper()
	if string(got.Value) != string(src.Value) || string(got.Key) != string(src.Key) {
		t.Errorf("dead letter changed key or bytes")
	}
	if r := header(got, deadletter.HeaderError); !strings.HasPrefix(r, wantReasonPrefix) {
		t.Errorf("%s = %q, want prefix %q", deadletter.HeaderError, r, wantReasonPrefix)
	}
	for k, want := range map[string]string{
		deadletter.HeaderSourceTopic:     src.Topic,
		deadletter.HeaderSourcePartition: strconv.Itoa(src.Partition),
		deadletter.HeaderSourceOffset:    strconv.FormatInt(src.Offset, 10),
	} {
		if h := header(got, k); h != want {
			t.Errorf("%s = %q, want %q", k, h, want)
		}
	}
	if got.Topic != "" || got.Partition != 0 {
		t.Errorf("dead letter carries topic/partition %q/%d; the writer would refuse it", got.Topic, got.Partition)
	}
}

func TestBadInputGoesToDLQ(t *testing.T) {
	msgs, evs := events(t, 300, generator.Config{MalformedShare: 0.2}, 3)
	f := &fakeFetcher{msgs: msgs}
	es := newFakeES()
	dlq := &fakeDLQ{}
	m := NewMetrics(nil)
	p := newPipeline(t, testConfig(), f, es, dlq, Options{Metrics: m})
	stop := start(t, p)
	eventually(t, "every offset committed", func() bool { return sameOffsets(f.committed(), endOffsets(msgs)) })
	_ = stop()

	want := map[string]kafkago.Message{}
	kinds := map[string]bool{}
	for i, ev := range evs {
		if ev.Malformed != "" {
			want[fmt.Sprint(msgs[i].Partition, "/", msgs[i].Offset)] = msgs[i]
			kinds[ev.Malformed] = true
			continue
		}
		if es.version(ev.OrderID) != ev.Version {
			t.Errorf("valid order %s not indexed", ev.OrderID)
		}
	}
	got := dlq.all()
	if len(got) != len(want) || len(want) == 0 {
		t.Fatalf("%d dead letters, want %d", len(got), len(want))
	}
	for _, d := range got {
		src, ok := want[header(d, deadletter.HeaderSourcePartition)+"/"+header(d, deadletter.HeaderSourceOffset)]
		if !ok {
			t.Fatalf("unexpected dead letter from %s/%s", header(d, deadletter.HeaderSourcePartition), header(d, deadletter.HeaderSourceOffset))
		}
		r := header(d, deadletter.HeaderError)
		if !strings.HasPrefix(r, "malformed: ") && !strings.HasPrefix(r, "invalid: ") {
			t.Errorf("reason %q is neither malformed nor invalid", r)
		}
		checkDeadLetter(t, d, src, r)
	}
	if counterValue(t, m.DeadLettered.WithLabelValues("malformed")) == 0 || counterValue(t, m.DeadLettered.WithLabelValues("invalid")) == 0 {
		t.Errorf("dead_lettered_total lacks a reason; kinds seen: %v", kinds)
	}
}

func TestSupersededVersionsAreNotSent(t *testing.T) {
	cfg := generator.Config{LifecycleShare: 1, CancelShare: 0}
	msgs, evs := events(t, 1, cfg, 1)
	if len(evs) != 4 {
		t.Fatalf("%d events, want created..delivered", len(evs))
	}
	f := &fakeFetcher{msgs: msgs}
	es := newFakeES()
	c := testConfig()
	c.FlushInterval = time.Second // all four in one batch
	c.BulkSize = 4
	p := newPipeline(t, c, f, es, &fakeDLQ{}, Options{})
	stop := start(t, p)
	eventually(t, "every offset committed", func() bool { return sameOffsets(f.committed(), endOffsets(msgs)) })
	_ = stop()
	if got := es.sent(evs[0].OrderID); got != 1 {
		t.Fatalf("order sent %d times, want once (its latest version)", got)
	}
	if got := es.version(evs[0].OrderID); got != 4 {
		t.Fatalf("stored version %d, want 4", got)
	}
	if s := p.Stats(); s.Superseded != 3 {
		t.Fatalf("superseded = %d, want 3", s.Superseded)
	}
}

// When Elasticsearch rejects the newest version of an order in a batch, the
// older versions must not share its fate: the next version down is indexed,
// as a consumer taking one message at a time would have left it.
func TestRejectedLatestVersionFallsBackToThePreviousOne(t *testing.T) {
	tests := []struct {
		rejected   []int // versions Elasticsearch rejects
		wantStored int
		superseded int64
	}{
		{[]int{4}, 3, 2},
		{[]int{4, 3}, 2, 1},
		{[]int{4, 3, 2, 1}, 0, 0},
		{[]int{3}, 4, 3}, // an older rejected version is superseded like any other
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint("rejected ", tc.rejected), func(t *testing.T) {
			msgs, evs := events(t, 1, generator.Config{LifecycleShare: 1, CancelShare: 0}, 1)
			if len(evs) != 4 {
				t.Fatalf("%d events, want created..delivered", len(evs))
			}
			id := evs[0].OrderID
			es := newFakeES()
			es.override = func(_ int, d elastic.Doc) (elastic.Outcome, bool) {
				if slices.Contains(tc.rejected, d.Version) {
					return elastic.Outcome{Result: elastic.Rejected, Status: 400, Reason: "document_parsing_exception: bad"}, true
				}
				return elastic.Outcome{}, false
			}
			f := &fakeFetcher{msgs: msgs}
			dlq := &fakeDLQ{}
			c := testConfig()
			c.FlushInterval = 10 * time.Second // all four in one batch
			c.BulkSize = 4
			p := newPipeline(t, c, f, es, dlq, Options{})
			stop := start(t, p)
			eventually(t, "every offset committed", func() bool { return sameOffsets(f.committed(), endOffsets(msgs)) })
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if got := es.version(id); got != tc.wantStored {
				t.Errorf("stored version %d, want %d", got, tc.wantStored)
			}
			var dead []string
			for _, d := range dlq.all() {
				dead = append(dead, header(d, deadletter.HeaderSourceOffset))
			}
			var want []string
			for _, v := range tc.rejected {
				if v >= tc.wantStored {
					want = append(want, strconv.Itoa(v-1)) // version v is at offset v-1
				}
			}
			if fmt.Sprint(dead) != fmt.Sprint(want) {
				t.Errorf("dead-lettered offsets %v, want %v", dead, want)
			}
			if s := p.Stats(); s.Superseded != tc.superseded {
				t.Errorf("superseded = %d, want %d", s.Superseded, tc.superseded)
			}
		})
	}
}

// A request Elasticsearch refuses as too large is split until it fits; a
// document too large on its own is dead-lettered instead of retried forever.
func TestTooLargeBulkRequestIsSplit(t *testing.T) {
	msgs, evs := events(t, 20, generator.Config{}, 1)
	victim := evs[13].OrderID
	es := newFakeES()
	es.reqErrFor = func(docs []elastic.Doc) error {
		for _, d := range docs {
			if d.ID == victim || len(docs) > 3 {
				return fmt.Errorf("send bulk request: %w", &elastic.StatusError{Status: 413, Body: "Request Entity Too Large"})
			}
		}
		return nil
	}
	f := &fakeFetcher{msgs: msgs}
	dlq := &fakeDLQ{}
	c := testConfig()
	c.BulkSize, c.Workers, c.FlushInterval = 20, 1, 10*time.Second
	p := newPipeline(t, c, f, es, dlq, Options{})
	stop := start(t, p)
	eventually(t, "every offset committed", func() bool { return sameOffsets(f.committed(), endOffsets(msgs)) })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.OrderID != victim && es.version(ev.OrderID) != ev.Version {
			t.Errorf("order %s not indexed", ev.OrderID)
		}
	}
	got := dlq.all()
	if len(got) != 1 {
		t.Fatalf("%d dead letters, want the one document too large on its own", len(got))
	}
	checkDeadLetter(t, got[0], msgs[13], "rejected by elasticsearch: 413 ")
}

// A whole request refused with 400 blames the request, not a document: it is
// retried (nothing dead-lettered) and logged as an error.
func TestBadRequestIsRetriedLoudly(t *testing.T) {
	msgs, evs := events(t, 5, generator.Config{}, 1)
	es := newFakeES()
	es.reqErr = func(call int) error {
		if call < 2 {
			return &elastic.StatusError{Status: 400, Body: "illegal_argument_exception: Malformed action/metadata line"}
		}
		return nil
	}
	var logs servicetest.SyncBuffer
	f := &fakeFetcher{msgs: msgs}
	dlq := &fakeDLQ{}
	p := newPipeline(t, testConfig(), f, es, dlq, Options{Log: slog.New(slog.NewTextHandler(&logs, nil))})
	stop := start(t, p)
	eventually(t, "every offset committed", func() bool { return sameOffsets(f.committed(), endOffsets(msgs)) })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if len(dlq.all()) != 0 {
		t.Fatal("a whole-request 400 dead-lettered documents")
	}
	for _, ev := range evs {
		if es.version(ev.OrderID) != ev.Version {
			t.Errorf("order %s not indexed", ev.OrderID)
		}
	}
	if l := logs.String(); !strings.Contains(l, "level=ERROR") || !strings.Contains(l, "refused the whole bulk request") {
		t.Errorf("no error logged for the refused request:\n%s", l)
	}
}

func TestShutdownMidRetryCommitsNothingUnhandled(t *testing.T) {
	msgs, evs := events(t, 3, generator.Config{}, 1) // offsets 0,1,2 on partition 0
	f := &fakeFetcher{msgs: msgs}
	es := newFakeES()
	es.override = func(_ int, d elastic.Doc) (elastic.Outcome, bool) {
		if d.ID == evs[1].OrderID {
			return elastic.Outcome{Result: elastic.Retry, Status: 429, Reason: "es_rejected_execution_exception"}, true
		}
		return elastic.Outcome{}, false
	}
	c := testConfig()
	c.FlushInterval = 200 * time.Millisecond
	health := newTestHealth()
	p := newPipeline(t, c, f, es, &fakeDLQ{}, Options{Health: health})
	stop := start(t, p)
	eventually(t, "the stuck document retried", func() bool { return es.sent(evs[1].OrderID) >= 3 })
	if r := health.Reason(); !strings.Contains(r, "elasticsearch unavailable") {
		t.Errorf("readiness reason %q does not say elasticsearch is failing", r)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := f.committed(); got[0] != 1 {
		t.Fatalf("committed offset %d on partition 0, want 1 (offset 0 handled, offset 1 stuck, offset 2 behind it)", got[0])
	}
	if es.version(evs[2].OrderID) != 1 {
		t.Fatal("the message after the stuck one was not indexed")
	}
}

func TestCommitFailureIsNotFatal(t *testing.T) {
	msgs, _ := events(t, 50, generator.Config{}, 2)
	f := &fakeFetcher{msgs: msgs, commitErr: []error{errors.New("[22] Illegal Generation"), errors.New("[27] Rebalance In Progress")}}
	c := testConfig()
	c.BulkSize = 10
	p := newPipeline(t, c, f, newFakeES(), &fakeDLQ{}, Options{})
	stop := start(t, p)
	eventually(t, "every offset committed", func() bool { return sameOffsets(f.committed(), endOffsets(msgs)) })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if s := p.Stats(); s.CommitFailures != 2 {
		t.Fatalf("commit failures %d, want 2", s.CommitFailures)
	}
}

// A dead-letter write that fails while the pipeline is running must be
// retried, and no commit may pass a message whose dead letter is not written
// yet: small batches make the next batch's commit the one that would skip it.
func TestDLQFailureHoldsTheCommit(t *testing.T) {
	msgs, _ := events(t, 50, generator.Config{MalformedShare: 0.5}, 1)
	var malformed []int64
	for _, m := range msgs {
		if _, err := order.Decode(m.Value); err != nil {
			malformed = append(malformed, m.Offset)
		}
	}
	if len(malformed) < 5 || malformed[0] > 5 {
		t.Fatalf("malformed offsets %v: want several, one in the first batch", malformed)
	}
	dlq := &fakeDLQ{err: errors.New("kafka down"), fails: 3}
	var violation atomic.Value
	f := &fakeFetcher{msgs: msgs, onCommit: func(m kafkago.Message) {
		written := map[string]bool{}
		for _, d := range dlq.all() {
			written[header(d, deadletter.HeaderSourceOffset)] = true
		}
		for _, off := range malformed {
			if off <= m.Offset && !written[strconv.FormatInt(off, 10)] {
				violation.CompareAndSwap(nil, fmt.Sprintf("committed offset %d past offset %d, whose dead letter was never written", m.Offset+1, off))
			}
		}
	}}
	c := testConfig()
	c.BulkSize = 5
	p := newPipeline(t, c, f, newFakeES(), dlq, Options{})
	stop := start(t, p)
	eventually(t, "every offset committed", func() bool {
		return violation.Load() != nil || sameOffsets(f.committed(), endOffsets(msgs))
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if v := violation.Load(); v != nil {
		t.Fatal(v)
	}
	if got := len(dlq.all()); got != len(malformed) {
		t.Fatalf("%d dead letters, want %d", got, len(malformed))
	}
	if s := p.Stats(); s.Retries < 3 {
		t.Errorf("retries = %d, want the 3 failed dead-letter writes counted", s.Retries)
	}
}

// A dead letter that can never be written stops Run with an error naming
// the message, and nothing at or after it is committed.
func TestPermanentDLQFailureStopsRun(t *testing.T) {
	permanent := fmt.Errorf("write messages: %w: %w", kafka.ErrPermanent, kafkago.TopicAuthorizationFailed)
	// A real writer refuses a dead letter over its BatchBytes before any
	// I/O, so no broker is needed for this one.
	tooSmall := &kafkago.Writer{Addr: kafkago.TCP("127.0.0.1:1"), Topic: "orders.dlq", BatchBytes: 64}
	t.Cleanup(func() { _ = tooSmall.Close() })
	overBatchBytes := &KafkaDeadLetters{Writer: tooSmall}
	tests := []struct {
		name   string
		reject bool // the victim is valid but Elasticsearch rejects it
		dlq    DeadLetters
	}{
		{"undecodable", false, &fakeDLQ{err: permanent}},
		{"rejected by elasticsearch", true, &fakeDLQ{err: permanent}},
		{"dead letter over the writer's batch bytes", false, overBatchBytes},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			es := newFakeES()
			var msgs []kafkago.Message
			victim := -1
			if tc.reject {
				var evs []generator.Event
				msgs, evs = events(t, 30, generator.Config{}, 1)
				victim = 7
				es.override = func(_ int, d elastic.Doc) (elastic.Outcome, bool) {
					if d.ID == evs[victim].OrderID {
						return elastic.Outcome{Result: elastic.Rejected, Status: 400, Reason: "strict_dynamic_mapping_exception: no"}, true
					}
					return elastic.Outcome{}, false
				}
			} else {
				var evs []generator.Event
				msgs, evs = events(t, 30, generator.Config{MalformedShare: 0.3}, 1)
				for i, ev := range evs {
					if ev.Malformed != "" {
						victim = i
						break
					}
				}
			}
			f := &fakeFetcher{msgs: msgs}
			c := testConfig()
			c.BulkSize = 5
			p := newPipeline(t, c, f, es, tc.dlq, Options{})
			done := make(chan error, 1)
			go func() { done <- p.Run(context.Background()) }()
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not stop on a permanent dead-letter failure")
			}
			at := fmt.Sprintf("orders/0@%d", msgs[victim].Offset)
			if !errors.Is(err, kafka.ErrPermanent) || !strings.Contains(err.Error(), at) {
				t.Fatalf("Run = %v, want kafka.ErrPermanent naming %s", err, at)
			}
			if got := f.committed()[0]; got > msgs[victim].Offset {
				t.Fatalf("committed offset %d past the message at %d whose dead letter failed", got, msgs[victim].Offset)
			}
		})
	}
}

// Every required field left at zero stops New with an error naming it:
// the pipeline has no defaults of its own to fall back on.
func TestNewRefusesAConfigWithoutARequiredField(t *testing.T) {
	for _, field := range []string{"BulkSize", "BulkBytes", "Workers", "FlushInterval", "DrainTimeout",
		"CommitTimeout", "CommitInterval", "RetryInitial", "RetryMax"} {
		t.Run(field, func(t *testing.T) {
			c := testConfig()
			reflect.ValueOf(&c).Elem().FieldByName(field).SetZero()
			p, err := New(c, &fakeFetcher{}, newFakeES(), &fakeDLQ{}, Options{})
			if err == nil || p != nil || !strings.Contains(err.Error(), "Config."+field+" ") {
				t.Fatalf("New without %s = %v, %v; want an error naming it", field, p, err)
			}
		})
	}
	c := testConfig()
	c.ProgressInterval = 0 // never log progress
	if _, err := New(c, &fakeFetcher{}, newFakeES(), &fakeDLQ{}, Options{}); err != nil {
		t.Fatalf("New without ProgressInterval: %v, want a pipeline that logs no progress", err)
	}
}

func newTestHealth() *Health { return NewHealth(newReadiness()) }

func BenchmarkPipeline(b *testing.B) {
	msgs, _ := events(b, 20000, generator.DefaultConfig(), 6)
	c := testConfig()
	c.BulkSize = 2000
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		f := &fakeFetcher{msgs: msgs}
		p := newPipeline(b, c, f, newFakeES(), &fakeDLQ{}, Options{})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		for !sameOffsets(f.committed(), endOffsets(msgs)) {
			time.Sleep(100 * time.Microsecond)
		}
		cancel()
		<-done
	}
	b.ReportMetric(float64(len(msgs)*b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// Batches overlap: while one bulk request hangs, later batches are still
// fetched and indexed, what comes before it is committed, and nothing is
// committed past it however much behind it is done.
func TestHungRequestHoldsOnlyTheCommitBehindIt(t *testing.T) {
	msgs, evs := events(t, 200, generator.Config{}, 1)
	const victim = 50
	es := newFakeES()
	release := make(chan struct{})
	es.gate = func(ctx context.Context, docs []elastic.Doc) {
		for _, d := range docs {
			if d.ID == evs[victim].OrderID {
				select {
				case <-release:
				case <-ctx.Done():
				}
			}
		}
	}
	f := &fakeFetcher{msgs: msgs}
	c := testConfig()
	c.BulkSize, c.Workers = 10, 3
	p := newPipeline(t, c, f, es, &fakeDLQ{}, Options{})
	stop := start(t, p)
	behind := func() int {
		n := 0
		for _, ev := range evs[victim+1:] {
			if es.version(ev.OrderID) == ev.Version {
				n++
			}
		}
		return n
	}
	eventually(t, "progress on both sides of the hung request", func() bool { return f.committed()[0] > 0 && behind() >= 10 })
	if got := f.committed()[0]; got > victim {
		t.Fatalf("committed offset %d past the hung message at offset %d", got, victim)
	}
	close(release)
	eventually(t, "every offset committed", func() bool { return sameOffsets(f.committed(), endOffsets(msgs)) })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}
