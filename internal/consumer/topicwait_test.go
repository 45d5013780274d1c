package consumer_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/internal/e2e"
	"github.com/orderpipe/orderpipe/internal/kafka"
	"github.com/orderpipe/orderpipe/internal/servicetest"
)

// A consumer started before its topic exists waits quietly, says why on
// /readyz, and consumes once the topic is created.
func TestConsumerWaitsQuietlyForAMissingTopic(t *testing.T) {
	s := e2e.NewStack(t)
	s.Topic += "-later" // NewStack made the other one; this one does not exist yet
	t.Cleanup(func() { servicetest.DeleteTopic(t, s.Kafka.Brokers, s.Topic) })
	logs := &servicetest.SyncBuffer{}
	s.Log = logs
	c := s.StartConsumer(t, "early")
	const before = 10 * time.Second
	time.Sleep(before)
	text := logs.String()
	lines := strings.Count(text, "\n")
	t.Logf("%d log lines in the %v before the topic existed", lines, before)
	if lines > 20 {
		t.Errorf("%d log lines in %v while the topic was missing, want at most 20:\n%s", lines, before, text)
	}
	if !strings.Contains(text, "KAFKA_TOPIC") || !strings.Contains(text, "orderctl setup") {
		t.Errorf("the log does not say to create KAFKA_TOPIC with orderctl setup:\n%s", text)
	}
	if r := c.Health.Reason(); !strings.Contains(r, s.Topic) || !strings.Contains(r, "KAFKA_TOPIC") {
		t.Errorf("readiness %q does not say it waits for topic %s", r, s.Topic)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := kafka.NewAdmin(s.Kafka)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.EnsureTopic(ctx, kafka.TopicSpec{Name: s.Topic, Partitions: e2e.Partitions, ReplicationFactor: 1, MinInsyncReplicas: 1}, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	evs := e2e.Generate(t, 500, 0)
	x := e2e.Expect(evs)
	s.Produce(t, evs)
	s.WaitDone(t, x, 2*time.Minute)
	s.AssertIndex(t, x)
	if r := c.Health.Reason(); r != "" {
		t.Errorf("not ready after the topic appeared: %q", r)
	}
	c.Close()
}
