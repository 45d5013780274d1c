package pipeline

// The Go consumer against the secured Elasticsearch node of
// scripts/with-services (security and HTTPS on, file-realm users with the
// orderpipe_writer role): what it proves is what a real server enforces.

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/orderpipe/orderpipe/deploy"
	"github.com/orderpipe/orderpipe/internal/elastic"
	"github.com/orderpipe/orderpipe/internal/generator"
	"github.com/orderpipe/orderpipe/internal/kafka"
	"github.com/orderpipe/orderpipe/internal/ops"
	"github.com/orderpipe/orderpipe/internal/servicetest"
)

// securedRun is one in-process consumer writing to index of the secured
// node as orderpipe_consumer over HTTPS, with its log captured.
type securedRun struct {
	node         servicetest.SecureES
	kafka        kafka.Config
	topic, group string
	dlqTopic     string
	orders       int // distinct order ids produced
	health       *Health
	log          *servicetest.SyncBuffer
	stop         func()
	done         chan error
}

func startSecured(t *testing.T, index func(servicetest.SecureES) string) *securedRun {
	t.Helper()
	node := servicetest.SecureElasticsearch(t)
	brokers := servicetest.KafkaBrokers(t)
	r := &securedRun{node: node, kafka: kafka.Config{Brokers: brokers, ClientID: "orderpipe-security-test"},
		topic: servicetest.Name(t, "sec"), group: servicetest.Name(t, "sec"), log: &servicetest.SyncBuffer{}, done: make(chan error, 1)}
	r.dlqTopic = r.topic + ".dlq"
	servicetest.CreateTopic(t, brokers, r.topic, 2)
	servicetest.CreateTopic(t, brokers, r.dlqTopic, 1)

	cfg := generator.DefaultConfig()
	cfg.Seed = time.Now().UnixNano()
	evs := servicetest.Orders(t, cfg, 20, time.Now())
	ids := map[string]bool{}
	msgs := make([]kafkago.Message, len(evs))
	for i, ev := range evs {
		msgs[i] = kafkago.Message{Key: ev.Key, Value: ev.Value}
		ids[string(ev.Key)] = true
	}
	r.orders = len(ids)
	w, err := kafka.NewWriter(r.kafka, kafka.WriterConfig{Acks: "all", BatchConfig: kafka.BatchConfig{BatchSize: 100, BatchBytes: 1 << 20, BatchTimeout: 5 * time.Millisecond}}, r.topic)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := kafka.WriteAll(ctx, w, msgs, nil); err != nil {
		t.Fatalf("produce: %v", err)
	}
	w.Close()

	log := slog.New(slog.NewJSONHandler(r.log, nil))
	esc, err := elastic.New(elastic.Config{Addresses: []string{node.URL}, Username: servicetest.ConsumerUser, Password: node.ConsumerPassword,
		CACert: node.CACert, Index: index(node), RequestTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	reader, err := kafka.NewGroupMember(r.kafka, kafka.GroupMemberConfig{Topic: r.topic, GroupID: r.group, SessionTimeout: 6 * time.Second, QueueCapacity: 100}, log)
	if err != nil {
		t.Fatal(err)
	}
	dlw, err := kafka.NewDeadLetterWriter(r.kafka, kafka.BatchConfig{BatchSize: 100, BatchBytes: 1 << 20, BatchTimeout: 5 * time.Millisecond}, r.dlqTopic)
	if err != nil {
		t.Fatal(err)
	}
	r.health = NewHealth(ops.NewReadiness("starting"))
	// Every order in one batch on one worker; real servers over HTTPS,
	// where a bulk request may take longer than the unit tests' drain and
	// a refusal is retried at a pace a log can be read at.
	pc := testConfig()
	pc.BulkSize, pc.Workers = 500, 1
	pc.DrainTimeout, pc.RetryMax, pc.ProgressInterval = 5*time.Second, 500*time.Millisecond, time.Second
	p := newPipeline(t, pc, reader, esc, &KafkaDeadLetters{Writer: dlw}, Options{Log: log, Metrics: NewMetrics(nil), Health: r.health})
	runCtx, stop := context.WithCancel(context.Background())
	go func() { r.done <- p.Run(runCtx) }()
	r.stop = func() {
		stop()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("consumer: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("consumer did not stop within 30s")
		}
		_ = reader.Close()
		_ = dlw.Close()
	}
	t.Cleanup(func() {
		r.stop()
		node.AssertNoSecret(t, "the consumer's log", r.log.String())
		if t.Failed() {
			t.Logf("consumer log:\n%s", r.log.String())
		}
	})
	return r
}

func (r *securedRun) committed(t *testing.T) map[int]int64 {
	t.Helper()
	admin, err := kafka.NewAdmin(r.kafka)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	o, err := admin.GroupOffsets(ctx, r.group, r.topic, []int{0, 1})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// TestSecuredConsumerIndexesWithBasicAuth: orderpipe_consumer, with only
// the writer role, indexes every order over HTTPS.
func TestSecuredConsumerIndexesWithBasicAuth(t *testing.T) {
	var index string
	r := startSecured(t, func(n servicetest.SecureES) string { index = n.OrdersIndex(t, deploy.OrdersTemplate); return index })
	deadline := time.Now().Add(2 * time.Minute)
	for r.node.Count(t, index) < r.orders {
		if time.Now().After(deadline) {
			t.Fatalf("index holds %d of %d orders; readiness %q", r.node.Count(t, index), r.orders, r.health.Reason())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if n := r.node.Count(t, index); n != r.orders {
		t.Errorf("index holds %d orders, want %d", n, r.orders)
	}
}

// TestSecuredConsumerWithoutPrivilegeWaits: per-item 403s are neither
// dead-lettered nor committed; readiness and the log name the privilege.
func TestSecuredConsumerWithoutPrivilegeWaits(t *testing.T) {
	r := startSecured(t, func(n servicetest.SecureES) string { return n.OtherIndex(t, deploy.OrdersTemplate) })
	want := []string{"security_exception", "action [indices:data/write/bulk[s]] is unauthorized", servicetest.ConsumerUser}
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(r.health.Reason(), "security_exception") {
		if time.Now().After(deadline) {
			t.Fatalf("readiness %q does not say why", r.health.Reason())
		}
		time.Sleep(100 * time.Millisecond)
	}
	reason := r.health.Reason()
	t.Logf("readiness: %s", reason)
	for _, w := range want {
		if !strings.Contains(reason, w) {
			t.Errorf("readiness %q lacks %q", reason, w)
		}
	}
	// The pipeline commits only between batches, and the first batch never
	// ends while every item is refused: these reads cannot race a commit.
	for p, o := range r.committed(t) {
		if o >= 0 {
			t.Errorf("partition %d committed at %d although nothing was indexed", p, o)
		}
	}
	for p, end := range servicetest.EndOffsets(t, r.kafka.Brokers, r.dlqTopic) {
		if end != 0 {
			t.Errorf("dead-letter partition %d holds %d messages; a refused write is not the document's fault", p, end)
		}
	}
	logged := r.log.String()
	var found bool
	for _, line := range strings.Split(logged, "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && strings.Contains(line, "indices:data/write/bulk[s]") && rec["cause"] == "forbidden" {
			found = true
		}
	}
	if !found {
		t.Error("no log line names the missing privilege with cause forbidden")
	}
}
