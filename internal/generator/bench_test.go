package generator

import (
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/internal/order"
)

// BenchmarkNext measures one new order: generation, encoding and the
// caller-owned copy, without follow-ups.
func BenchmarkNext(b *testing.B) {
	cfg := testConfig(1)
	cfg.LifecycleShare = 0
	g := newTestGenerator(b, cfg)
	now := testStart
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Millisecond)
		g.Next(now)
	}
}

// BenchmarkOrderLifecycle measures the full cost of an order under default
// settings at 1000 orders/s: Next plus the follow-ups that fall due
// (about 2.4 extra events per order), with some 70,000 orders pending.
func BenchmarkOrderLifecycle(b *testing.B) {
	g := newTestGenerator(b, testConfig(1))
	now := testStart
	for range 100_000 { // reach the steady-state heap size first
		now = now.Add(time.Millisecond)
		g.Next(now)
		appendDue(nil, g, now)
	}
	b.ReportAllocs()
	events := 0
	for b.Loop() {
		now = now.Add(time.Millisecond)
		g.Next(now)
		events++
		for {
			if _, ok := g.Due(now); !ok {
				break
			}
			events++
		}
	}
	b.ReportMetric(float64(events)/float64(b.N), "events/op")
	b.ReportMetric(float64(g.Pending()), "pending")
}

func BenchmarkDecode(b *testing.B) {
	g := newTestGenerator(b, testConfig(1))
	value := g.Next(testStart).Value
	b.ReportAllocs()
	b.SetBytes(int64(len(value)))
	for b.Loop() {
		if _, err := order.Decode(value); err != nil {
			b.Fatal(err)
		}
	}
}
