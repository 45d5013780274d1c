package pipeline

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/orderpipe/orderpipe/internal/generator"
	"github.com/orderpipe/orderpipe/internal/kafka"
	"github.com/orderpipe/orderpipe/internal/servicetest"
)

// The bound with kafka-go's real group reader on the real Kafka of
// scripts/with-services: one document Elasticsearch keeps refusing
// (retryably) while 30,000 messages wait on its topic (the issue's
// million would take minutes to produce and consume under -race; the
// bound, 5,000, is what matters, and it is reached either way). The
// pipeline stops taking messages at the bound, the member stays in its
// group, /readyz names the partition, and once the document goes through
// every message is handled and committed.
func TestStuckDocumentHoldsBackTheRealReader(t *testing.T) {
	brokers := servicetest.KafkaBrokers(t)
	cfg := kafka.Config{Brokers: brokers, ClientID: "orderpipe-bound-test"}
	topic, group := servicetest.Name(t, "bound"), servicetest.Name(t, "bound")
	servicetest.CreateTopic(t, brokers, topic, 2)

	pool, _ := events(t, 21, generator.Config{}, 1)
	victim := pool[20]
	const total = 30_000
	msgs := make([]kafkago.Message, total)
	for i := range msgs {
		src := pool[i%20]
		if i == 100 {
			src = victim
		}
		msgs[i] = kafkago.Message{Key: src.Key, Value: src.Value}
	}
	w, err := kafka.NewWriter(cfg, kafka.WriterConfig{Acks: "all", BatchConfig: kafka.BatchConfig{Compression: "lz4", BatchSize: 1000, BatchBytes: 1 << 20, BatchTimeout: 5 * time.Millisecond}}, topic)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := kafka.WriteAll(ctx, w, msgs, nil); err != nil {
		t.Fatal(err)
	}
	_ = w.Close()
	end := servicetest.EndOffsets(t, brokers, topic)

	var logs servicetest.SyncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	reader, err := kafka.NewGroupMember(cfg, kafka.GroupMemberConfig{Topic: topic, GroupID: group, SessionTimeout: 6 * time.Second, QueueCapacity: 500}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reader.Close() })
	es := newFakeES()
	unstick := es.stick(string(victim.Key))
	c := testConfig()
	c.BulkSize, c.Workers, c.MaxUncommitted = 500, 3, 5_000
	health := newTestHealth()
	p := newPipeline(t, c, reader, es, &fakeDLQ{}, Options{Health: health, Log: log})
	stop := start(t, p)

	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(health.Reason(), "held back") {
		if time.Now().After(deadline) {
			t.Fatalf("not held back after a minute: %+v, readiness %q", p.Stats(), health.Reason())
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // what was on its way lands
	held := p.Stats()
	time.Sleep(time.Second)
	if again := p.Stats(); again.Consumed != held.Consumed {
		t.Errorf("consumed %d more messages while held back", again.Consumed-held.Consumed)
	}
	if held.PeakUncommitted > int64(c.MaxUncommitted) {
		t.Errorf("%d messages of one partition waiting, over the bound %d", held.PeakUncommitted, c.MaxUncommitted)
	}
	if r := health.Reason(); !strings.Contains(r, "partition ") || !strings.Contains(r, "held back: ") {
		t.Errorf("readiness %q does not name the partition held back", r)
	}
	t.Logf("held back with %d of %d messages consumed: %s", held.Consumed, total, health.Reason())

	unstick()
	admin, err := kafka.NewAdmin(cfg)
	if err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(2 * time.Minute)
	for {
		got, err := admin.GroupOffsets(ctx, group, topic, []int{0, 1})
		if err == nil && got[0] == end[0] && got[1] == end[1] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("committed %v (%v), want the end offsets %v; %+v", got, err, end, p.Stats())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if s := p.Stats(); s.PeakUncommitted > int64(c.MaxUncommitted) {
		t.Errorf("%d messages of one partition waiting at the peak, over the bound %d", s.PeakUncommitted, c.MaxUncommitted)
	}
	if strings.Contains(health.Reason(), "held back") {
		t.Errorf("still held back after the document went through: %q", health.Reason())
	}
}
