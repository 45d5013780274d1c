package pipeline

// Integration tests against the real Kafka and Elasticsearch of
// scripts/with-services. Each test produces its own orders into its own
// topic, runs the consumer, and then asserts the exact result: every valid
// order in Elasticsearch once, at its latest version and status, nothing
// else; the dead-letter topic holding exactly the malformed messages.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/orderpipe/orderpipe/deploy"
	"github.com/orderpipe/orderpipe/internal/deadletter"
	"github.com/orderpipe/orderpipe/internal/elastic"
	"github.com/orderpipe/orderpipe/internal/generator"
	"github.com/orderpipe/orderpipe/internal/kafka"
	"github.com/orderpipe/orderpipe/internal/ops"
	"github.com/orderpipe/orderpipe/internal/order"
	"github.com/orderpipe/orderpipe/internal/servicetest"
)

const testPartitions = 6

// allPartitions lists the partition ids of a test topic.
func allPartitions() []int {
	parts := make([]int, testPartitions)
	for i := range parts {
		parts[i] = i
	}
	return parts
}

// stack is one test's topics, group and index on the shared services.
type stack struct {
	kafka    kafka.Config
	esURL    string
	topic    string
	dlqTopic string
	group    string
	index    string
	template string // path of the test's index template file
}

func newStack(t *testing.T) *stack {
	t.Helper()
	return newStackOn(t, servicetest.ElasticsearchURL(t))
}

// newStackOn is newStack against the Elasticsearch at esURL.
func newStackOn(t *testing.T, esURL string) *stack {
	t.Helper()
	s := &stack{
		kafka: kafka.Config{Brokers: servicetest.KafkaBrokers(t), ClientID: "orderpipe-consumer-test"},
		esURL: strings.TrimRight(esURL, "/"),
		topic: servicetest.Name(t, "opc"),
		group: servicetest.Name(t, "opc"),
		index: servicetest.Name(t, "opc"),
	}
	s.dlqTopic = s.topic + ".dlq"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := kafka.NewAdmin(s.kafka)
	if err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{s.topic, s.dlqTopic} {
		if _, err := admin.EnsureTopic(ctx, kafka.TopicSpec{Name: topic, Partitions: testPartitions, ReplicationFactor: 1}, slog.New(slog.DiscardHandler)); err != nil {
			t.Fatalf("create topic %s: %v", topic, err)
		}
	}
	t.Cleanup(func() {
		client, err := s.kafka.Client()
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = client.DeleteTopics(ctx, &kafkago.DeleteTopicsRequest{Topics: []string{s.topic, s.dlqTopic}})
	})

	// The real template, only scoped to this test's index, so parallel
	// tests do not install templates over each other's indices.
	body := testTemplate(t, s.index)
	s.template = filepath.Join(t.TempDir(), "template.json")
	if err := os.WriteFile(s.template, body, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.es(t, http.MethodDelete, "/"+s.index, nil, nil)
		s.es(t, http.MethodDelete, "/_index_template/"+s.index, nil, nil)
	})
	return s
}

func testTemplate(t *testing.T, index string) []byte {
	t.Helper()
	var tmpl map[string]any
	if err := json.Unmarshal(deploy.OrdersTemplate, &tmpl); err != nil {
		t.Fatalf("parse deploy.OrdersTemplate: %v", err)
	}
	tmpl["index_patterns"] = []string{index}
	tmpl["priority"] = 500
	body, err := json.Marshal(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// es sends one request to Elasticsearch and decodes the JSON answer into out.
func (s *stack) es(t *testing.T, method, path string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, s.esURL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if out != nil && res.StatusCode < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("decode %s %s: %v: %s", method, path, err, data)
		}
	}
	return res.StatusCode
}

// expectation is what the consumer must produce from the events written.
type expectation struct {
	final     map[string]generator.Event // latest valid version per order
	malformed map[string]generator.Event // by key (each malformed event has a fresh id)
	messages  int
}

func expect(evs []generator.Event) expectation {
	x := expectation{final: map[string]generator.Event{}, malformed: map[string]generator.Event{}, messages: len(evs)}
	for _, ev := range evs {
		if ev.Malformed != "" {
			x.malformed[string(ev.Key)] = ev
			continue
		}
		if cur, ok := x.final[ev.OrderID]; !ok || ev.Version > cur.Version {
			x.final[ev.OrderID] = ev
		}
	}
	return x
}

// generate returns n orders with their lifecycle follow-ups right after
// each (LifecycleDelay 0) and MalformedShare malformed messages.
func generate(t *testing.T, n int, malformedShare float64) []generator.Event {
	t.Helper()
	cfg := generator.DefaultConfig()
	cfg.Seed, cfg.MalformedShare = time.Now().UnixNano(), malformedShare
	return servicetest.Orders(t, cfg, n, time.Now())
}

func (s *stack) produce(t *testing.T, evs []generator.Event) {
	t.Helper()
	w, err := kafka.NewWriter(s.kafka, kafka.WriterConfig{Acks: "all", Compression: "lz4", BatchSize: 1000, BatchBytes: 1 << 20, BatchTimeout: 5 * time.Millisecond}, s.topic)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const chunk = 20000
	msgs := make([]kafkago.Message, 0, chunk)
	for lo := 0; lo < len(evs); lo += chunk {
		msgs = msgs[:0]
		for _, ev := range evs[lo:min(lo+chunk, len(evs))] {
			msgs = append(msgs, kafkago.Message{Key: ev.Key, Value: ev.Value})
		}
		if _, err := kafka.WriteAll(ctx, w, msgs, nil); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
}

// consumer is an in-process consumer wired like cmd/consumer.
type consumer struct {
	p      *Pipeline
	health *Health
	cancel context.CancelFunc
	done   chan error
	close  func()
}

// defaultTestConfig is the in-process consumers' pipeline configuration.
var defaultTestConfig = Config{BulkSize: 2000, FlushInterval: 500 * time.Millisecond, Workers: 2, DrainTimeout: 5 * time.Second,
	RetryMax: 2 * time.Second, ProgressInterval: 5 * time.Second}

func (s *stack) startConsumer(t *testing.T, name string) *consumer {
	t.Helper()
	return s.startConsumerWith(t, name, defaultTestConfig)
}

func (s *stack) startConsumerWith(t *testing.T, name string, cfg Config) *consumer {
	t.Helper()
	log := slog.New(slog.NewJSONHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})).With("consumer", name)
	reader, err := kafka.NewGroupReader(s.kafka, kafka.GroupReaderConfig{Topic: s.topic, GroupID: s.group, SessionTimeout: 6 * time.Second, QueueCapacity: 1000}, log)
	if err != nil {
		t.Fatal(err)
	}
	es, err := elastic.New(elastic.Config{Addresses: []string{s.esURL}, Index: s.index, RequestTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx0, cancel0 := context.WithTimeout(context.Background(), time.Minute)
	defer cancel0()
	body, _ := os.ReadFile(s.template)
	if err := es.EnsureTemplate(ctx0, s.index, body, log); err != nil {
		t.Fatalf("install template: %v", err)
	}
	w, err := kafka.NewWriter(s.kafka, kafka.WriterConfig{Acks: "all", Compression: "lz4", BatchSize: 1000, BatchBytes: 1 << 20, BatchTimeout: 5 * time.Millisecond}, s.dlqTopic)
	if err != nil {
		t.Fatal(err)
	}
	health := NewHealth(ops.NewReadiness("starting"))
	m := NewMetrics(nil)
	dlq := &KafkaDeadLetters{Writer: w}
	p := New(cfg, reader, es, dlq, Options{Log: log, Metrics: m, Health: health})
	ctx, cancel := context.WithCancel(context.Background())
	c := &consumer{p: p, health: health, cancel: cancel, done: make(chan error, 1)}
	go func() { c.done <- p.Run(ctx) }()
	var once sync.Once
	c.close = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-c.done:
				if err != nil {
					t.Errorf("consumer %s: %v", name, err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("consumer %s did not stop within 30s", name)
			}
			_ = reader.Close() // leaves the group
			_ = w.Close()
		})
	}
	t.Cleanup(c.close)
	return c
}

// testWriter sends consumer logs to t.Log, shown for failing tests only.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// count returns the number of documents in the index after a refresh.
func (s *stack) count(t *testing.T) int {
	t.Helper()
	s.es(t, http.MethodPost, "/"+s.index+"/_refresh", nil, nil)
	var res struct {
		Count int `json:"count"`
	}
	if s.es(t, http.MethodGet, "/"+s.index+"/_count", nil, &res) != http.StatusOK {
		return -1
	}
	return res.Count
}

func (s *stack) lag(t *testing.T) (int64, error) {
	t.Helper()
	admin, err := kafka.NewAdmin(s.kafka)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	lag, err := admin.GroupLag(ctx, s.group, s.topic)
	if err != nil {
		return 0, err
	}
	var sum int64
	for _, l := range lag {
		sum += l
	}
	return sum, nil
}

// waitDone waits until the index holds the expected number of orders and
// the group's lag is 0.
func (s *stack) waitDone(t *testing.T, x expectation, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		n := s.count(t)
		lag, err := s.lag(t)
		if n == len(x.final) && err == nil && lag == 0 {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: index holds %d of %d orders, lag %d (err %v)", timeout, n, len(x.final), lag, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

type hit struct {
	ID      string `json:"_id"`
	Version int    `json:"_version"`
	Source  struct {
		OrderID string `json:"order_id"`
		Version int    `json:"version"`
		Status  string `json:"status"`
	} `json:"_source"`
	Sort []any `json:"sort"`
}

// assertIndex checks the index holds exactly the expected orders, each once,
// at its latest version (as _version and in the document) and status.
func (s *stack) assertIndex(t *testing.T, x expectation) {
	t.Helper()
	s.es(t, http.MethodPost, "/"+s.index+"/_refresh", nil, nil)
	seen := map[string]bool{}
	var after []any
	var problems []string
	for {
		q := map[string]any{
			"size": 10000, "version": true, "_source": []string{"order_id", "version", "status"},
			"sort": []any{map[string]any{"order_id": "asc"}}, "query": map[string]any{"match_all": map[string]any{}},
		}
		if after != nil {
			q["search_after"] = after
		}
		var res struct {
			Hits struct {
				Hits []hit `json:"hits"`
			} `json:"hits"`
		}
		if code := s.es(t, http.MethodPost, "/"+s.index+"/_search", q, &res); code != http.StatusOK {
			t.Fatalf("search answered %d", code)
		}
		if len(res.Hits.Hits) == 0 {
			break
		}
		for _, h := range res.Hits.Hits {
			want, ok := x.final[h.ID]
			switch {
			case seen[h.ID]:
				problems = append(problems, "duplicate "+h.ID)
			case !ok:
				problems = append(problems, "unexpected "+h.ID)
			case h.Version != want.Version || h.Source.Version != want.Version || h.Source.Status != string(want.Status) || h.Source.OrderID != h.ID:
				problems = append(problems, fmt.Sprintf("%s: _version %d version %d status %s, want %d %s", h.ID, h.Version, h.Source.Version, h.Source.Status, want.Version, want.Status))
			}
			seen[h.ID] = true
		}
		after = res.Hits.Hits[len(res.Hits.Hits)-1].Sort
	}
	for id := range x.final {
		if !seen[id] {
			problems = append(problems, "missing "+id)
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		t.Fatalf("index differs from the expected final state in %d ways; first: %v", len(problems), problems[:min(20, len(problems))])
	}
}

// readTopic returns every message of topic, by partition order.
func (s *stack) readTopic(t *testing.T, topic string) []kafkago.Message {
	t.Helper()
	client, err := s.kafka.Client()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var reqs []kafkago.OffsetRequest
	for p := range testPartitions {
		reqs = append(reqs, kafkago.FirstOffsetOf(p), kafkago.LastOffsetOf(p))
	}
	offs, err := client.ListOffsets(ctx, &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{topic: reqs}})
	if err != nil {
		t.Fatal(err)
	}
	dialer, _ := s.kafka.Dialer()
	var out []kafkago.Message
	for _, po := range offs.Topics[topic] {
		if po.LastOffset <= po.FirstOffset {
			continue
		}
		r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: s.kafka.Brokers, Topic: topic, Partition: po.Partition, Dialer: dialer, MaxWait: 100 * time.Millisecond})
		if err := r.SetOffset(po.FirstOffset); err != nil {
			t.Fatal(err)
		}
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				t.Fatalf("read %s/%d: %v", topic, po.Partition, err)
			}
			out = append(out, m)
			if m.Offset >= po.LastOffset-1 {
				break
			}
		}
		r.Close()
	}
	return out
}

// assertDLQ checks the dead-letter topic holds exactly the malformed
// messages, bytes and key unchanged, each with a reason and the source
// partition and offset of the message it copies. Dead-lettering is at least
// once, like indexing: a message dead-lettered in a batch whose commit was
// lost (crash, rebalance) is dead-lettered again when re-delivered. Such
// copies are allowed only as exact duplicates of the same source message.
func (s *stack) assertDLQ(t *testing.T, x expectation) {
	t.Helper()
	dead := s.readTopic(t, s.dlqTopic)
	var problems []string
	bySource := map[string]kafkago.Message{}
	duplicates := 0
	for _, d := range dead {
		key := string(d.Key)
		src := header(d, deadletter.HeaderSourcePartition) + "/" + header(d, deadletter.HeaderSourceOffset)
		ev, ok := x.malformed[key]
		switch {
		case !ok:
			problems = append(problems, "unexpected dead letter "+key)
			continue
		case !bytes.Equal(d.Value, ev.Value):
			problems = append(problems, "dead letter "+key+" changed its bytes")
		case header(d, deadletter.HeaderError) == "":
			problems = append(problems, "dead letter "+key+" has no reason")
		case header(d, deadletter.HeaderSourceTopic) != s.topic:
			problems = append(problems, "dead letter "+key+" has source topic "+header(d, deadletter.HeaderSourceTopic))
		}
		if prev, ok := bySource[src]; ok {
			if string(prev.Key) != key {
				problems = append(problems, "two different dead letters claim source "+src)
			}
			duplicates++
			continue
		}
		bySource[src] = d
	}
	seenKeys := map[string]bool{}
	for _, d := range bySource {
		seenKeys[string(d.Key)] = true
	}
	for key := range x.malformed {
		if !seenKeys[key] {
			problems = append(problems, "missing dead letter "+key)
		}
	}
	if len(seenKeys) != len(bySource) {
		problems = append(problems, "one malformed message dead-lettered under two different sources")
	}
	// The source headers must point at the very message copied.
	for _, m := range s.readTopic(t, s.topic) {
		src := strconv.Itoa(m.Partition) + "/" + strconv.FormatInt(m.Offset, 10)
		if d, ok := bySource[src]; ok {
			if !bytes.Equal(d.Value, m.Value) || !bytes.Equal(d.Key, m.Key) {
				problems = append(problems, "dead letter for "+src+" does not match the source message")
			}
			delete(bySource, src)
		}
	}
	for src := range bySource {
		problems = append(problems, "dead letter source "+src+" is not a message of the topic")
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		t.Fatalf("dead-letter topic differs in %d ways; first: %v", len(problems), problems[:min(20, len(problems))])
	}
	t.Logf("dead-letter topic: exactly the %d malformed messages (plus %d re-delivered copies)", len(x.malformed), duplicates)
}

func ordersForTest(t *testing.T, def int) int {
	t.Helper()
	if v := os.Getenv("ORDERPIPE_TEST_ORDERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("ORDERPIPE_TEST_ORDERS: %v", err)
		}
		return n
	}
	return def
}

func TestConsumerExactResult(t *testing.T) {
	servicetest.Heavy(t)
	s := newStack(t)
	evs := generate(t, ordersForTest(t, 100_000), 0.01)
	x := expect(evs)
	start := time.Now()
	s.produce(t, evs)
	t.Logf("produced %d messages (%d orders, %d malformed) in %v", len(evs), len(x.final), len(x.malformed), time.Since(start))

	c := s.startConsumer(t, "only")
	took := s.waitDone(t, x, 10*time.Minute)
	c.close()
	st := c.p.Stats()
	t.Logf("consumed %d messages in %v (%.0f msgs/s, %.0f orders/s): %+v", st.Consumed, took,
		float64(st.Consumed)/took.Seconds(), float64(len(x.final))/took.Seconds(), st)
	s.assertIndex(t, x)
	s.assertDLQ(t, x)
}

func TestTwoConsumersOneLeaves(t *testing.T) {
	servicetest.Heavy(t)
	s := newStack(t)
	evs := generate(t, ordersForTest(t, 100_000), 0.01)
	x := expect(evs)
	s.produce(t, evs)

	a := s.startConsumer(t, "a")
	b := s.startConsumer(t, "b")
	deadline := time.Now().Add(10 * time.Minute)
	for s.count(t) < len(x.final)/2 {
		if time.Now().After(deadline) {
			t.Fatalf("half the orders not indexed after 10 minutes")
		}
		time.Sleep(100 * time.Millisecond)
	}
	a.close() // leaves the group halfway; b takes over its partitions
	s.waitDone(t, x, 10*time.Minute)
	b.close()
	sa, sb := a.p.Stats(), b.p.Stats()
	t.Logf("a consumed %d, b consumed %d (of %d messages)", sa.Consumed, sb.Consumed, x.messages)
	if sa.Consumed == 0 || sb.Consumed == 0 {
		t.Errorf("the partitions were not shared: a consumed %d, b %d", sa.Consumed, sb.Consumed)
	}
	s.assertIndex(t, x)
	s.assertDLQ(t, x)
}

func TestMappingRejectionGoesToDLQ(t *testing.T) {
	s := newStack(t)
	evs := generate(t, 200, 0)
	// An order that passes order.Validate (Decode ignores unknown fields)
	// but that the strict mapping refuses: an extra top-level field.
	victim := evs[len(evs)/2]
	if victim.Malformed != "" {
		t.Fatal("victim must be valid")
	}
	bad := append(bytes.TrimSuffix(append([]byte(nil), victim.Value...), []byte("}")), []byte(`,"coupon":"SPRING"}`)...)
	if _, err := order.Decode(bad); err != nil {
		t.Fatalf("the victim must pass validation: %v", err)
	}
	withCoupon := func(v []byte) []byte {
		return append(bytes.TrimSuffix(append([]byte(nil), v...), []byte("}")), []byte(`,"coupon":"SPRING"}`)...)
	}
	// Replace every version of the victim order so it cannot be indexed.
	for i := range evs {
		if evs[i].OrderID == victim.OrderID {
			evs[i].Value = withCoupon(evs[i].Value)
		}
	}
	// Of a second order only the latest version is refused: the index must
	// keep the version before it, as a one-at-a-time consumer would.
	x0 := expect(evs)
	var latestOnly generator.Event
	for _, ev := range evs {
		if ev.OrderID != victim.OrderID && ev.Malformed == "" && x0.final[ev.OrderID].Version >= 3 {
			latestOnly = x0.final[ev.OrderID]
			break
		}
	}
	if latestOnly.OrderID == "" {
		t.Fatal("no order with three versions to reject the latest of")
	}
	for i := range evs {
		if evs[i].OrderID == latestOnly.OrderID && evs[i].Version == latestOnly.Version {
			evs[i].Value = withCoupon(evs[i].Value)
		}
	}
	var kept []generator.Event // what a one-at-a-time consumer indexes
	for _, ev := range evs {
		if ev.OrderID != latestOnly.OrderID || ev.Version != latestOnly.Version {
			kept = append(kept, ev)
		}
	}
	x := expect(kept)
	delete(x.final, victim.OrderID)
	if got := x.final[latestOnly.OrderID].Version; got != latestOnly.Version-1 {
		t.Fatalf("expected version %d of %s, want %d", got, latestOnly.OrderID, latestOnly.Version-1)
	}
	s.produce(t, evs)

	c := s.startConsumer(t, "only")
	s.waitDone(t, x, 2*time.Minute)
	c.close()
	s.assertIndex(t, x)

	dead := s.readTopic(t, s.dlqTopic)
	if len(dead) == 0 {
		t.Fatal("the rejected order was not dead-lettered")
	}
	latestDead := false
	for _, d := range dead {
		if string(d.Key) == latestOnly.OrderID && bytes.Equal(d.Value, withCoupon(latestOnly.Value)) {
			latestDead = true
		} else if string(d.Key) != victim.OrderID {
			t.Errorf("unexpected dead letter %s", d.Key)
		}
		r := header(d, deadletter.HeaderError)
		if !strings.Contains(r, "strict_dynamic_mapping_exception") || !strings.Contains(r, "coupon") {
			t.Errorf("reason %q does not carry Elasticsearch's mapping error", r)
		}
		if !bytes.Contains(d.Value, []byte(`"coupon":"SPRING"`)) {
			t.Errorf("dead letter lost the original bytes")
		}
	}
	if !latestDead {
		t.Errorf("the refused latest version of %s was not dead-lettered", latestOnly.OrderID)
	}
	t.Logf("dead letter reason: %s", header(dead[0], deadletter.HeaderError))
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
