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
	"github.com/orderpipe/orderpipe/internal/generator"
	"github.com/orderpipe/orderpipe/internal/kafka"
	"github.com/orderpipe/orderpipe/internal/servicetest"
)

// TestElasticsearchOutage runs the exact-result suite's Elasticsearch stop
// on a node of its own.
func TestElasticsearchOutage(t *testing.T) {
	servicetest.Heavy(t) // before the private node starts, not after
	es := servicetest.StartPrivateES(t)
	e2e.RunExactSuite(t, e2e.Features{ESURL: es.URL, Heavy: true}, e2e.Case{
		Name:       "Elasticsearch stops mid-stream",
		NeedsOwnES: true,
		Run: func(t *testing.T, s *e2e.Stack, orders int) e2e.Outcome {
			return elasticsearchStops(t, s, es, orders)
		},
	})
}

func elasticsearchStops(t *testing.T, s *e2e.Stack, es *servicetest.PrivateES, orders int) e2e.Outcome {
	evs := e2e.Generate(t, orders, 0.01)
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
	return e2e.Outcome{
		Written: func(*testing.T) []generator.Event { return evs },
		Settled: func(t *testing.T, took time.Duration) {
			c.Close()
			t.Logf("caught up %v after Elasticsearch came back; %d documents retried during the outage", took, retriesDuring)
			if retriesDuring == 0 {
				t.Error("no retries were counted during the outage")
			}
			if r := c.Health.Reason(); r != "" {
				t.Errorf("still not ready after recovery: %q", r)
			}
		},
	}
}
