//go:build outage

package consumer_test

// This test stops and restarts Elasticsearch mid-stream, on a node of its
// own (servicetest.PrivateES says why), so it only builds with the
// "outage" tag:
//
//	go test -tags outage -run TestElasticsearchOutage -count=1 -timeout 15m ./internal/consumer/

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/internal/e2e"
	"github.com/orderpipe/orderpipe/internal/kafka"
	"github.com/orderpipe/orderpipe/internal/servicetest"
)

func TestElasticsearchOutage(t *testing.T) {
	servicetest.Heavy(t)
	es := servicetest.StartPrivateES(t)
	s := e2e.NewStackOn(t, es.URL)
	evs := e2e.Generate(t, e2e.OrdersForTest(t, 100_000), 0.01)
	x := e2e.Expect(evs)
	s.Produce(t, evs)

	cfg := e2e.Config(t)
	cfg.BulkSize, cfg.BulkWorkers = 200, 1 // slow enough to still be mid-stream when ES stops
	c := s.StartConsumerWith(t, "only", cfg)
	for s.Count(t) < len(x.Final)/4 {
		time.Sleep(20 * time.Millisecond)
	}

	stopped := false
	t.Cleanup(func() {
		if stopped {
			es.Start(t) // never leave the node down for the other cleanups
		}
	})
	stopped = true
	es.Stop(t)

	// The consumer stays up and says why it waits.
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(c.Health.Reason(), "elasticsearch unavailable") {
		if time.Now().After(deadline) {
			t.Fatalf("readiness reason %q does not say Elasticsearch is unavailable", c.Health.Reason())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("readiness during the outage: %s", c.Health.Reason())

	// Nothing is committed while nothing can be indexed.
	admin, err := kafka.NewAdmin(s.Kafka)
	if err != nil {
		t.Fatal(err)
	}
	offsets := func() map[int]int64 {
		ctx, cancel := e2e.ContextWithTimeout(10 * time.Second)
		defer cancel()
		o, err := admin.GroupOffsets(ctx, s.Group, s.Topic, e2e.AllPartitions())
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	// The pipeline reports Elasticsearch unavailable only from inside a
	// batch it cannot finish, and it commits only between batches, so no
	// commit can land after this snapshot: observe a fixed window.
	during := offsets()
	const window = 15 * time.Second
	time.Sleep(window)
	if after := offsets(); !maps.Equal(during, after) {
		t.Fatalf("offsets were committed while Elasticsearch was down: %v -> %v", during, after)
	}
	select {
	case err := <-c.Done:
		t.Fatalf("the consumer stopped during the outage: %v", err)
	default:
	}
	retriesDuring := c.Stats().Retries

	es.Start(t)
	stopped = false
	took := s.WaitDone(t, x, 10*time.Minute)
	c.Close()
	t.Logf("caught up %v after Elasticsearch came back; %d documents retried during the outage", took, retriesDuring)
	if retriesDuring == 0 {
		t.Error("no retries were counted during the outage")
	}
	if r := c.Health.Reason(); r != "" {
		t.Errorf("still not ready after recovery: %q", r)
	}
	s.AssertIndex(t, x)
	s.AssertDLQ(t, x)
}
