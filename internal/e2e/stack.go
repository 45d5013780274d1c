package e2e

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/orderpipe/orderpipe/deploy"
	"github.com/orderpipe/orderpipe/internal/consumer"
	"github.com/orderpipe/orderpipe/internal/elastic"
	"github.com/orderpipe/orderpipe/internal/generator"
	"github.com/orderpipe/orderpipe/internal/kafka"
	"github.com/orderpipe/orderpipe/internal/ops"
	"github.com/orderpipe/orderpipe/internal/pipeline"
	"github.com/orderpipe/orderpipe/internal/servicetest"
	"github.com/orderpipe/orderpipe/internal/settings"
)

const Partitions = 6

// AllPartitions lists the partition ids of a test topic.
func AllPartitions() []int {
	parts := make([]int, Partitions)
	for i := range parts {
		parts[i] = i
	}
	return parts
}

// Stack is one test's topics, group and index on the shared services.
type Stack struct {
	Kafka kafka.Config
	ESURL string // where the test's own requests go
	// ESAddresses are the consumer's ES_ADDRESSES: ESURL, or every node
	// of a cluster.
	ESAddresses []string
	Replication int // of both topics
	MinInsync   int // their min.insync.replicas
	Topic       string
	DLQTopic    string
	Group       string
	Index       string
	Template    string // path of the test's index template file
	// Log, if set, gets a copy of every consumer's log lines, for a test
	// that asserts on the log.
	Log io.Writer
}

func NewStack(t *testing.T) *Stack {
	t.Helper()
	return NewStackOn(t, servicetest.ElasticsearchURL(t))
}

// NewStackOn is NewStack against the Elasticsearch at esURL.
func NewStackOn(t *testing.T, esURL string) *Stack {
	t.Helper()
	esURL = strings.TrimRight(esURL, "/")
	return newStack(t, esURL, []string{esURL}, 1, 1)
}

// NewClusterStack is NewStack on the replicated cluster of make
// test-cluster: both topics replicated as the cluster affords (3 copies, 2
// in sync, on 3 brokers), the consumer given every
// Elasticsearch node, the test's own requests going to node 1 (the one the
// tests never kill: with two nodes it is the only master).
func NewClusterStack(t *testing.T, c servicetest.Cluster) *Stack {
	t.Helper()
	return newStack(t, c.ESURLs[0], c.ESURLs, c.Replication, c.MinInsync)
}

func newStack(t *testing.T, esURL string, esAddresses []string, replication, minInsync int) *Stack {
	t.Helper()
	s := &Stack{
		Kafka:       kafka.Config{Brokers: servicetest.KafkaBrokers(t), ClientID: "orderpipe-consumer-test"},
		ESURL:       esURL,
		ESAddresses: esAddresses,
		Replication: replication,
		MinInsync:   minInsync,
		Topic:       servicetest.Name(t, "opc"),
		Group:       servicetest.Name(t, "opc"),
		Index:       servicetest.Name(t, "opc"),
	}
	s.DLQTopic = s.Topic + ".dlq"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := kafka.NewAdmin(s.Kafka)
	if err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{s.Topic, s.DLQTopic} {
		if _, err := admin.EnsureTopic(ctx, s.topicSpec(topic), slog.New(slog.DiscardHandler)); err != nil {
			t.Fatalf("create topic %s: %v", topic, err)
		}
	}
	t.Cleanup(func() {
		client, err := s.Kafka.Client()
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = client.DeleteTopics(ctx, &kafkago.DeleteTopicsRequest{Topics: []string{s.Topic, s.DLQTopic}})
	})

	// The real template, only scoped to this test's index, so parallel
	// tests do not install templates over each other's indices.
	body := testTemplate(t, s.Index)
	s.Template = filepath.Join(t.TempDir(), "template.json")
	if err := os.WriteFile(s.Template, body, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.ES(t, http.MethodDelete, "/"+s.Index, nil, nil)
		s.ES(t, http.MethodDelete, "/_index_template/"+s.Index, nil, nil)
	})
	return s
}

func (s *Stack) topicSpec(name string) kafka.TopicSpec {
	return kafka.TopicSpec{Name: name, Partitions: Partitions, ReplicationFactor: s.Replication, MinInsyncReplicas: s.MinInsync}
}

func testTemplate(t testing.TB, index string) []byte {
	t.Helper()
	body, err := json.Marshal(servicetest.ScopedTemplate(t, deploy.OrdersTemplate, []string{index}, nil))
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// ES sends one request to Elasticsearch and decodes the JSON answer into
// out; 0 when the request got no answer.
func (s *Stack) ES(t *testing.T, method, path string, body any, out any) int {
	t.Helper()
	code, data := servicetest.ES(t, s.ESURL, method, path, body)
	if out != nil && code >= 200 && code < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("decode %s %s: %v: %s", method, path, err, data)
		}
	}
	return code
}

// Expectation is what the consumer must produce from the events written.
type Expectation struct {
	Final     map[string]generator.Event // latest valid version per order
	Malformed map[string]generator.Event // by key (each malformed event has a fresh id)
	Messages  int
}

func Expect(evs []generator.Event) Expectation {
	x := Expectation{Final: map[string]generator.Event{}, Malformed: map[string]generator.Event{}, Messages: len(evs)}
	for _, ev := range evs {
		if ev.Malformed != "" {
			x.Malformed[string(ev.Key)] = ev
			continue
		}
		if cur, ok := x.Final[ev.OrderID]; !ok || ev.Version > cur.Version {
			x.Final[ev.OrderID] = ev
		}
	}
	return x
}

// Generate returns n orders with their lifecycle follow-ups right after
// each (LifecycleDelay 0) and MalformedShare malformed messages.
func Generate(t *testing.T, n int, malformedShare float64) []generator.Event {
	t.Helper()
	cfg := generator.DefaultConfig()
	cfg.Seed, cfg.MalformedShare = time.Now().UnixNano(), malformedShare
	return servicetest.Orders(t, cfg, n, time.Now())
}

func (s *Stack) Produce(t *testing.T, evs []generator.Event) {
	t.Helper()
	w, err := kafka.NewWriter(s.Kafka, WriterConfig(t), s.Topic)
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

// Consumer is an in-process consumer, assembled by internal/consumer as
// cmd/consumer assembles it.
type Consumer struct {
	c      *consumer.Consumer
	Health *pipeline.Health
	cancel context.CancelFunc
	// Done receives Run's result once; Close reads it unless a test did.
	Done  chan error
	Close func()
}

// Stats is the consumer's pipeline counters.
func (c *Consumer) Stats() pipeline.Stats { return c.c.Stats() }

// WriterConfig is the programs' Kafka writer settings at their defaults
// (KAFKA_ACKS, KAFKA_BATCH_*, ...), for the tests' own producing.
func WriterConfig(t testing.TB) kafka.WriterConfig {
	t.Helper()
	var wc kafka.WriterConfig
	if err := settings.Defaults(&wc); err != nil {
		t.Fatal(err)
	}
	return wc
}

// Config is the consumer settings in-process consumers run with: the
// program's defaults (read from consumer.Config's tags, not copied here),
// with the shortest group session the settings allow, so that a consumer
// that stops or joins moves partitions sooner, and retries capped at 2s,
// so that a recovered server is noticed soon after it is back.
func Config(t *testing.T) consumer.Config {
	t.Helper()
	var c consumer.Config
	if err := settings.Defaults(&c); err != nil {
		t.Fatal(err)
	}
	c.SessionTimeout = 6 * time.Second
	c.RetryMaxInterval = 2 * time.Second
	return c
}

// StartConsumer starts a consumer named name (in its logs) with Config;
// it is stopped at cleanup if the test did not Close it.
func (s *Stack) StartConsumer(t *testing.T, name string) *Consumer {
	t.Helper()
	return s.StartConsumerWith(t, name, Config(t))
}

// StartConsumerWith is StartConsumer with the given settings; the group is
// always the stack's.
func (s *Stack) StartConsumerWith(t *testing.T, name string, cfg consumer.Config) *Consumer {
	t.Helper()
	cfg.Group = s.Group
	var out io.Writer = testWriter{t}
	if s.Log != nil {
		out = io.MultiWriter(out, s.Log)
	}
	log := slog.New(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: slog.LevelInfo})).With("consumer", name)
	body, err := os.ReadFile(s.Template)
	if err != nil {
		t.Fatal(err)
	}
	health := pipeline.NewHealth(ops.NewReadiness("starting"))
	cc, err := consumer.New(consumer.Settings{
		Kafka:        s.Kafka,
		Writer:       WriterConfig(t).BatchConfig,
		Elastic:      elastic.Config{Addresses: s.ESAddresses, Index: s.Index, RequestTimeout: 30 * time.Second},
		Topic:        s.Topic,
		DLQ:          s.topicSpec(s.DLQTopic),
		TemplateName: s.Index,
		Template:     body,
		Config:       cfg,
	}, pipeline.Options{Log: log, Metrics: pipeline.NewMetrics(nil), Health: health})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Consumer{c: cc, Health: health, cancel: cancel, Done: make(chan error, 1)}
	go func() { c.Done <- cc.Run(ctx) }()
	var once sync.Once
	c.Close = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-c.Done:
				if err != nil {
					t.Errorf("consumer %s: %v", name, err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("consumer %s did not stop within 30s", name)
			}
		})
	}
	t.Cleanup(c.Close)
	return c
}

// testWriter sends consumer logs to t.Log, shown for failing tests only.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// Count returns the number of documents in the index after a refresh.
func (s *Stack) Count(t *testing.T) int {
	t.Helper()
	s.ES(t, http.MethodPost, "/"+s.Index+"/_refresh", nil, nil)
	var res struct {
		Count int `json:"count"`
	}
	if s.ES(t, http.MethodGet, "/"+s.Index+"/_count", nil, &res) != http.StatusOK {
		return -1
	}
	return res.Count
}

func (s *Stack) Lag(t *testing.T) (int64, error) {
	t.Helper()
	admin, err := kafka.NewAdmin(s.Kafka)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	lag, err := admin.GroupLag(ctx, s.Group, s.Topic)
	if err != nil {
		return 0, err
	}
	var sum int64
	for _, l := range lag {
		sum += l
	}
	return sum, nil
}

// WaitDone waits until the index holds the expected number of orders and
// the group's lag is 0.
func (s *Stack) WaitDone(t *testing.T, x Expectation, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		n := s.Count(t)
		lag, err := s.Lag(t)
		if n == len(x.Final) && err == nil && lag == 0 {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: index holds %d of %d orders, lag %d (err %v)", timeout, n, len(x.Final), lag, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// OrdersForTest is how many orders a fault run produces: def, or
// ORDERPIPE_TEST_ORDERS for a quicker local run.
func OrdersForTest(t *testing.T, def int) int {
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

// Header returns the value of a message's header key, or "".
func Header(m kafkago.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// ContextWithTimeout is context.WithTimeout on a background context.
func ContextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
