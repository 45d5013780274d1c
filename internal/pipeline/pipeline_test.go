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
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/internal/deadletter"
	"github.com/orderpipe/orderpipe/internal/elastic"
	"github.com/orderpipe/orderpipe/internal/generator"
	"github.com/orderpipe/orderpipe/internal/servicetest"
)

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

// Every required field left at zero stops New with an error naming it:
// the pipeline has no defaults of its own to fall back on.
func TestNewRefusesAConfigWithoutARequiredField(t *testing.T) {
	for _, field := range []string{"BulkSize", "BulkBytes", "Workers", "FlushInterval", "DrainTimeout",
		"CommitTimeout", "CommitInterval", "RetryInitial", "RetryMax", "MaxUncommitted"} {
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
	es.hang(evs[victim].OrderID, release)
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
