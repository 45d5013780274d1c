package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/orderpipe/orderpipe/internal/deadletter"
	"github.com/orderpipe/orderpipe/internal/elastic"
	"github.com/orderpipe/orderpipe/internal/generator"
	"github.com/orderpipe/orderpipe/internal/order"
	"github.com/orderpipe/orderpipe/internal/retry"
)

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
	permanent := retry.Permanent(fmt.Errorf("write messages: %w", kafkago.TopicAuthorizationFailed))
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
			if !retry.IsPermanent(err) || !strings.Contains(err.Error(), at) {
				t.Fatalf("Run = %v, want a permanent error naming %s", err, at)
			}
			if got := f.committed()[0]; got > msgs[victim].Offset {
				t.Fatalf("committed offset %d past the message at %d whose dead letter failed", got, msgs[victim].Offset)
			}
		})
	}
}

// A dead letter Kafka refuses as too large is written cut to fit, with its
// original size and source headers, and the stream goes on.
func TestOversizedDeadLetterIsWrittenTruncated(t *testing.T) {
	msgs, evs := events(t, 40, generator.Config{}, 2)
	victim := 5
	big := append([]byte("{not json"), make([]byte, 300_000)...)
	msgs[victim].Value = big
	msgs[victim].Headers = []kafkago.Header{{Key: "trace", Value: []byte("abc")}}
	f := &fakeFetcher{msgs: msgs}
	es := newFakeES()
	dlq := &fakeDLQ{maxBytes: 100_000}
	p := newPipeline(t, testConfig(), f, es, dlq, Options{})
	stop := start(t, p)
	eventually(t, "every offset committed", func() bool { return sameOffsets(f.committed(), endOffsets(msgs)) })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	got := dlq.all()
	if len(got) != 1 {
		t.Fatalf("%d dead letters, want 1", len(got))
	}
	d := got[0]
	if deadletter.Size(d) > dlq.maxBytes || len(d.Value) < dlq.maxBytes/4 || !strings.HasPrefix(string(big), string(d.Value)) {
		t.Errorf("dead letter of %d bytes with a value of %d: want a prefix of the value, under %d bytes and not needlessly short", deadletter.Size(d), len(d.Value), dlq.maxBytes)
	}
	if h := header(d, deadletter.HeaderTruncated); h != strconv.Itoa(len(big)) {
		t.Errorf("%s = %q, want %d", deadletter.HeaderTruncated, h, len(big))
	}
	if header(d, "trace") != "abc" {
		t.Error("the source's own header was dropped though it fits")
	}
	src, reason, err := deadletter.ParseDLQHeaders(d.Headers)
	if err != nil || src != (deadletter.Source{Topic: "orders", Partition: msgs[victim].Partition, Offset: msgs[victim].Offset}) || !strings.HasPrefix(reason, "malformed") {
		t.Errorf("source headers %v %q %v", src, reason, err)
	}
	for i, ev := range evs {
		if i != victim && ev.Malformed == "" && es.version(ev.OrderID) < ev.Version {
			t.Errorf("order %s not indexed", ev.OrderID)
		}
	}
}

// A permanent failure other than the size stops Run with what to change.
func TestPermanentDLQFailureSaysWhatToChange(t *testing.T) {
	w := &refusingWriter{err: kafkago.TopicAuthorizationFailed}
	dl := &KafkaDeadLetters{Writer: w, Topic: "orders.dlq"}
	_, err := dl.WriteDeadLetters(context.Background(), []kafkago.Message{{Value: []byte("x")}})
	if !retry.IsPermanent(err) || !strings.Contains(err.Error(), "grant") || !strings.Contains(err.Error(), "orders.dlq") {
		t.Fatalf("err = %v, want a permanent error saying to grant Write on orders.dlq", err)
	}
}

type refusingWriter struct{ err error }

func (w *refusingWriter) WriteMessages(_ context.Context, msgs ...kafkago.Message) error {
	errs := make(kafkago.WriteErrors, len(msgs))
	for i := range errs {
		errs[i] = w.err
	}
	return errs
}
