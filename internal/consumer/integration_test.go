package consumer_test

// Whole consumers, assembled as cmd/consumer assembles them, against the
// real Kafka and Elasticsearch of scripts/with-services; the helpers and
// the exact-result assertions are in internal/e2e.

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/internal/deadletter"
	"github.com/orderpipe/orderpipe/internal/e2e"
	"github.com/orderpipe/orderpipe/internal/generator"
	"github.com/orderpipe/orderpipe/internal/order"
)

// TestConsumerExactResult runs the exact-result suite on the single node
// with the faults an in-process consumer can meet: none, and a consumer
// of two leaving the group halfway. cmd/consumer adds SIGKILL, the outage
// tests an Elasticsearch stop, internal/failover the cluster's nodes dying.
func TestConsumerExactResult(t *testing.T) {
	e2e.RunExactSuite(t, e2e.Features{Heavy: true}, oneConsumer, consumerLeaves)
}

var oneConsumer = e2e.Case{
	Name: "one consumer",
	Run: func(t *testing.T, s *e2e.Stack, orders int) e2e.Outcome {
		evs := e2e.Generate(t, orders, 0.01)
		x := e2e.Expect(evs)
		start := time.Now()
		s.Produce(t, evs)
		t.Logf("produced %d messages (%d orders, %d malformed) in %v", len(evs), len(x.Final), len(x.Malformed), time.Since(start))
		c := s.StartConsumer(t, "only")
		return e2e.Outcome{
			Written: func(*testing.T) []generator.Event { return evs },
			Settled: func(t *testing.T, took time.Duration) {
				c.Close()
				st := c.Stats()
				t.Logf("consumed %d messages in %v (%.0f msgs/s, %.0f orders/s): %+v", st.Consumed, took,
					float64(st.Consumed)/took.Seconds(), float64(len(x.Final))/took.Seconds(), st)
			},
		}
	},
}

var consumerLeaves = e2e.Case{
	Name: "two consumers, one leaves",
	Run: func(t *testing.T, s *e2e.Stack, orders int) e2e.Outcome {
		evs := e2e.Generate(t, orders, 0.01)
		x := e2e.Expect(evs)
		s.Produce(t, evs)

		a := s.StartConsumer(t, "a")
		b := s.StartConsumer(t, "b")
		deadline := time.Now().Add(10 * time.Minute)
		for s.Count(t) < len(x.Final)/2 {
			if time.Now().After(deadline) {
				t.Fatalf("half the orders not indexed after 10 minutes")
			}
			time.Sleep(100 * time.Millisecond)
		}
		a.Close() // leaves the group halfway; b takes over its partitions
		return e2e.Outcome{
			Written: func(*testing.T) []generator.Event { return evs },
			Settled: func(t *testing.T, _ time.Duration) {
				b.Close()
				sa, sb := a.Stats(), b.Stats()
				t.Logf("a consumed %d, b consumed %d (of %d messages)", sa.Consumed, sb.Consumed, x.Messages)
				if sa.Consumed == 0 || sb.Consumed == 0 {
					t.Errorf("the partitions were not shared: a consumed %d, b %d", sa.Consumed, sb.Consumed)
				}
			},
		}
	},
}

func TestMappingRejectionGoesToDLQ(t *testing.T) {
	s := e2e.NewStack(t)
	evs := e2e.Generate(t, 200, 0)
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
	x0 := e2e.Expect(evs)
	var latestOnly generator.Event
	for _, ev := range evs {
		if ev.OrderID != victim.OrderID && ev.Malformed == "" && x0.Final[ev.OrderID].Version >= 3 {
			latestOnly = x0.Final[ev.OrderID]
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
	x := e2e.Expect(kept)
	delete(x.Final, victim.OrderID)
	if got := x.Final[latestOnly.OrderID].Version; got != latestOnly.Version-1 {
		t.Fatalf("expected version %d of %s, want %d", got, latestOnly.OrderID, latestOnly.Version-1)
	}
	s.Produce(t, evs)

	c := s.StartConsumer(t, "only")
	s.WaitDone(t, x, 2*time.Minute)
	c.Close()
	s.AssertIndex(t, x)

	dead := s.ReadTopic(t, s.DLQTopic)
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
		r := e2e.Header(d, deadletter.HeaderError)
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
	t.Logf("dead letter reason: %s", e2e.Header(dead[0], deadletter.HeaderError))
}
