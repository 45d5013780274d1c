package producer

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/internal/generator"
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
		shape traffic.Shape
		run   time.Duration
	}{
		{"ramp 10 to 60 per second over 4 s", traffic.Ramp{From: 10, To: 60, Over: 4 * time.Second}, 5 * time.Second},
		{"spike 15 per second, 4x for 1 s every 3 s", traffic.Spike{Rate: 15, Factor: 4, Length: time.Second, Every: 3 * time.Second, Seed: 7}, 6 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // small rates: the two runs do not disturb each other
			brokers := servicetest.KafkaBrokers(t)
			topic := servicetest.Name(t, "shape")
			servicetest.CreateTopic(t, brokers, topic, 3)
			gcfg := generator.DefaultConfig()
			gcfg.LifecycleShare = 0 // one message per order
			p, _, _ := kafkaProducer(t, brokers, topic, gcfg, Settings{
				Rate: 1, Shape: tc.shape, BatchSize: 1000, BatchBytes: 1 << 20, Linger: 5 * time.Millisecond,
				ShutdownTimeout: 10 * time.Second, Lanes: 3,
			})
			ctx, cancel := context.WithTimeout(context.Background(), tc.run)
			defer cancel()
			start := time.Now()
			if err := p.Run(ctx); err != nil {
				t.Fatalf("run: %v", err)
			}
			got := make([]int, int(tc.run/time.Second))
			for _, m := range servicetest.ReadAll(t, brokers, topic) {
				if s := int(m.Time.Sub(start) / time.Second); s >= 0 && s < len(got) {
					got[s]++
				}
			}
			var report string
			failed := false
			for s, n := range got {
				want := asked(tc.shape, start, time.Duration(s)*time.Second)
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

// asked integrates the shape over the second from `from`, in 1 ms steps.
func asked(shape traffic.Shape, start time.Time, from time.Duration) float64 {
	var sum float64
	for ms := range 1000 {
		e := from + time.Duration(ms)*time.Millisecond
		sum += shape.At(e, start.Add(e)) / 1000
	}
	return sum
}
