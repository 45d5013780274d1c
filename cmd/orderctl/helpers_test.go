package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/orderpipe/orderpipe/deploy"
	"github.com/orderpipe/orderpipe/internal/generator"
	"github.com/orderpipe/orderpipe/internal/kafka"
	"github.com/orderpipe/orderpipe/internal/servicetest"
)

// stack is one test's private slice of the shared real services: its own
// topic, DLQ topic and index, and the environment orderctl reads.
type stack struct {
	brokers                []string
	esURL                  string
	topic, dlqTopic, index string
}

func newStack(t *testing.T, partitions int) *stack {
	t.Helper()
	s := &stack{
		brokers:  servicetest.KafkaBrokers(t),
		esURL:    servicetest.ElasticsearchURL(t),
		topic:    servicetest.Name(t, "orders"),
		dlqTopic: servicetest.Name(t, "dlq"),
		index:    servicetest.Name(t, "opverify"),
	}
	servicetest.CreateTopic(t, s.brokers, s.topic, partitions)
	t.Setenv("KAFKA_BROKERS", strings.Join(s.brokers, ","))
	t.Setenv("KAFKA_TOPIC", s.topic)
	t.Setenv("DLQ_TOPIC", s.dlqTopic)
	t.Setenv("ES_ADDRESSES", s.esURL)
	t.Setenv("ES_INDEX", s.index)
	return s
}

// createIndex creates the stack's index with the orders template's settings
// and mapping (strict), plus gc_deletes=0 so a test can delete a document and
// index an older version of it at once.
func (s *stack) createIndex(t *testing.T) {
	t.Helper()
	var tmpl struct {
		Template struct {
			Settings map[string]any `json:"settings"`
			Mappings any            `json:"mappings"`
		} `json:"template"`
	}
	if err := json.Unmarshal(deploy.OrdersTemplate, &tmpl); err != nil {
		t.Fatalf("decode template: %v", err)
	}
	tmpl.Template.Settings["gc_deletes"] = "0s"
	s.es(t, "PUT", "/"+s.index, map[string]any{"settings": tmpl.Template.Settings, "mappings": tmpl.Template.Mappings}, 200)
	t.Cleanup(func() { s.es(t, "DELETE", "/"+s.index, nil, 200, 404) })
}

// es sends one request and fails unless the status is one of want.
func (s *stack) es(t *testing.T, method, path string, body any, want ...int) []byte {
	t.Helper()
	return servicetest.ESExpect(t, s.esURL, method, path, body, want...)
}

// putDoc indexes source as id at external version v.
func (s *stack) putDoc(t *testing.T, id string, v int, source []byte) {
	t.Helper()
	s.es(t, "PUT", fmt.Sprintf("/%s/_doc/%s?version=%d&version_type=external&refresh=true", s.index, id, v), source, 200, 201)
}

func (s *stack) deleteDoc(t *testing.T, id string) {
	t.Helper()
	s.es(t, "DELETE", fmt.Sprintf("/%s/_doc/%s?refresh=true", s.index, id), nil, 200)
}

// putOlder indexes an older version of a deleted document. With
// gc_deletes=0s the delete's tombstone goes at a refresh once Elasticsearch's
// cached clock (200 ms resolution) has moved past it, so retry until then.
func (s *stack) putOlder(t *testing.T, id string, v int, source []byte) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		time.Sleep(250 * time.Millisecond)
		s.es(t, "POST", "/"+s.index+"/_refresh", nil, 200)
		body := s.es(t, "PUT", fmt.Sprintf("/%s/_doc/%s?version=%d&version_type=external&refresh=true", s.index, id, v), source, 200, 201, 409)
		if !bytes.Contains(body, []byte("version_conflict_engine_exception")) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("cannot index %s at older version %d: %s", id, v, body)
		}
	}
}

// produce writes the events to topic keyed by order id, and returns the
// messages as stored (with partition and offset).
func (s *stack) produce(t *testing.T, topic string, msgs []kafkago.Message) {
	t.Helper()
	w, err := kafka.NewWriter(kafka.Config{Brokers: s.brokers, ClientID: "orderctl-test"}, kafka.WriterConfig{
		Acks: "all", BatchConfig: kafka.BatchConfig{Compression: "none", BatchSize: 1000, BatchBytes: 1 << 20, BatchTimeout: 5 * time.Millisecond},
	}, topic)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := kafka.WriteAll(ctx, w, msgs, nil); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
}

// events generates n new orders (lifecycle events immediately due, so
// most orders get several versions) and every follow-up, deterministically.
func events(t *testing.T, n int, seed int64, malformedShare float64) []generator.Event {
	t.Helper()
	cfg := generator.DefaultConfig()
	cfg.Seed, cfg.MalformedShare = seed, malformedShare
	return servicetest.Orders(t, cfg, n, time.Now().Add(-time.Minute))
}

func messages(evs []generator.Event) []kafkago.Message {
	msgs := make([]kafkago.Message, len(evs))
	for i, ev := range evs {
		msgs[i] = kafkago.Message{Key: ev.Key, Value: ev.Value}
	}
	return msgs
}

// runCmd runs orderctl in-process and returns its stdout, stderr and error.
func runCmd(t *testing.T, ctx context.Context, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(ctx, args, &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

func itoa(n int) string { return strconv.Itoa(n) }
