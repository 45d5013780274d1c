package producer

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/internal/servicetest"
	"github.com/orderpipe/orderpipe/internal/traffic"
)

// TestShapesFollowTheirTargetOnRealKafka runs a short ramp and a spike at
// small rates into the real broker and reads the achieved rate back from
// the messages' Kafka timestamps, second by second: each whole second
// must hold the orders the shape asked for in it, within 25 % plus 5
// orders (timestamps are taken when a batch is sent, up to a linger and a
// busy machine's scheduling after the order was created).
func TestShapesFollowTheirTargetOnRealKafka(t *testing.T) {
	tests := []struct {
		name  string
		shape func(*Config)
		run   time.Duration
	}{
		{"ramp 10 to 60 per second over 4 s", func(c *Config) {
			c.Rate, c.Name, c.RampFrom, c.RampDuration = 60, "ramp", 10.0/60, 4*time.Second
		}, 5 * time.Second},
		{"spike 15 per second, 4x for 1 s every 3 s", func(c *Config) {
			c.Rate, c.Name, c.SpikeFactor, c.SpikeLength, c.SpikeEvery, c.Seed = 15, "spike", 4, time.Second, 3*time.Second, 7
		}, 6 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // small rates: the two runs do not disturb each other
			brokers := servicetest.KafkaBrokers(t)
			topic := servicetest.Name(t, "shape")
			servicetest.CreateTopic(t, brokers, topic, 3)
			d, _ := kafkaProducer(t, brokers, topic, 3, func(c *Config) {
				tc.shape(c)
				c.LifecycleShare, c.Lanes = 0, 3 // one message per order
			})
			ctx, cancel := context.WithTimeout(context.Background(), tc.run)
			defer cancel()
			if err := d.Run(ctx); err != nil {
				t.Fatalf("run: %v", err)
			}
			msgs := servicetest.ReadAll(t, brokers, topic)
			if len(msgs) == 0 {
				t.Fatal("nothing produced")
			}
			// The shape starts with the first creation, after the topic
			// check; the first message's timestamp is that, late by at
			// most a linger and a round trip.
			start := msgs[0].Time
			for _, m := range msgs {
				if m.Time.Before(start) {
					start = m.Time
				}
			}
			// Whole seconds only: the run's last one is cut short by the
			// time the topic check took.
			got := make([]int, int(tc.run/time.Second)-1)
			for _, m := range msgs {
				if s := int(m.Time.Sub(start) / time.Second); s >= 0 && s < len(got) {
					got[s]++
				}
			}
			var report string
			failed := false
			for s, n := range got {
				want := traffic.Asked(d.Shape, start, time.Duration(s)*time.Second, time.Duration(s+1)*time.Second)
				report += fmt.Sprintf(" %ds: %d of %.0f;", s, n, want)
				if math.Abs(float64(n)-want) > 0.25*want+5 {
					failed = true
				}
			}
			if failed {
				t.Fatalf("achieved per second vs target:%s", report)
			}
			t.Logf("achieved per second vs target:%s", report)
		})
	}
}
