package producer

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/orderpipe/orderpipe/internal/generator"
	"github.com/orderpipe/orderpipe/internal/order"
	"github.com/orderpipe/orderpipe/internal/traffic"
)

func TestDiurnalBackfillHasMoreOrdersInTheEveningThanAtNight(t *testing.T) {
	w := &fakeWriter{}
	cfg := generator.DefaultConfig()
	cfg.Seed, cfg.LifecycleShare = 3, 0
	shape := traffic.Diurnal{Rate: 1, Day: 24 * time.Hour, Loc: time.UTC}
	p := newTestProducer(t, cfg, Settings{Rate: 1, Shape: shape, Count: 1, BackfillDays: 2, BackfillOrdersPerDay: 2000}, w)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Run(ctx); err != nil {
		t.Fatalf("run: %v", err)
	}
	var night, evening, total int
	for _, m := range w.messages() {
		o, err := order.Decode(m.Value)
		if err != nil || time.Since(o.CreatedAt) < time.Minute {
			continue // the one live order
		}
		total++
		switch h := o.CreatedAt.UTC().Hour(); {
		case h >= 1 && h < 5:
			night++
		case h >= 18 && h < 22:
			evening++
		}
	}
	// Two days at about 2,000 a day, by the curve's weekly mean.
	if total < 2*2000/2 || total > 2*2000*2 {
		t.Errorf("backfilled %d orders over 2 days at 2,000 a day", total)
	}
	if evening < 3*night {
		t.Errorf("18:00-22:00 holds %d orders, 01:00-05:00 %d: want a busy evening and a quiet night", evening, night)
	}
}

func TestBackfillDailyFollowsTheCurveInIncreasingTime(t *testing.T) {
	start := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC) // a Monday
	var times []time.Time
	backfillDaily(start, start.Add(24*time.Hour), 1440, traffic.Diurnal{Rate: 1, Loc: time.UTC}, func(at time.Time) bool {
		times = append(times, at)
		return true
	})
	perHour := make([]int, 24)
	for i, at := range times {
		if i > 0 && at.Before(times[i-1]) {
			t.Fatalf("time %d (%v) is before the one before it (%v)", i, at, times[i-1])
		}
		perHour[at.Hour()]++
	}
	d := traffic.Diurnal{Rate: 1, Loc: time.UTC}
	for h, n := range perHour {
		want := 60 * d.Factor(start.Add(time.Duration(h)*time.Hour+30*time.Minute))
		if diff := float64(n) - want; diff > 0.15*want+3 || diff < -0.15*want-3 {
			t.Errorf("hour %d: %d orders, the curve asks for %.0f", h, n, want)
		}
	}
}

// stallingWriter holds its first write for stall, as a broker that stops
// answering for a while, then acknowledges everything.
type stallingWriter struct {
	stall time.Duration
	once  sync.Once
	fakeWriter
}

func (s *stallingWriter) WriteAll(ctx context.Context, msgs []kafkago.Message) ([]kafkago.Message, error) {
	s.once.Do(func() { time.Sleep(s.stall) })
	return s.fakeWriter.WriteAll(ctx, msgs)
}

// TestAStalledBrokerIsNotMadeUpInABurstUnlessAsked: while the writer is
// stalled, creation falls behind; afterwards the producer drops the missed
// orders (counted as skipped) rather than bursting, unless CatchUp.
func TestAStalledBrokerIsNotMadeUpInABurstUnlessAsked(t *testing.T) {
	for _, catchUp := range []bool{false, true} {
		t.Run(fmt.Sprintf("catch-up %v", catchUp), func(t *testing.T) {
			t.Parallel()
			w := &stallingWriter{stall: 2 * time.Second}
			cfg := generator.DefaultConfig()
			cfg.Seed, cfg.LifecycleShare = 4, 0
			p := newTestProducer(t, cfg, Settings{Rate: 200, BatchSize: 50, CatchUp: catchUp}, w)
			ctx, cancel := context.WithTimeout(context.Background(), 3500*time.Millisecond)
			defer cancel()
			if err := p.Run(ctx); err != nil {
				t.Fatalf("run: %v", err)
			}
			live, expected, skipped := p.Stats.Live.Load(), p.Asked(time.Time{}, time.Now()), p.Stats.Skipped.Load()
			t.Logf("%d created, %.0f asked for, %d skipped", live, expected, skipped)
			if catchUp {
				if skipped != 0 || float64(live) < 0.8*expected {
					t.Errorf("%d created of %.0f asked for, %d skipped: the missed orders were not made up", live, expected, skipped)
				}
			} else if skipped < 100 || float64(live) > 0.8*expected {
				t.Errorf("%d created of %.0f asked for, %d skipped: want the stall's orders dropped", live, expected, skipped)
			}
		})
	}
}

// TestTheTargetKeepsTimeWhileTheBrokerStalls: the target comes from the
// clock, not from the generator, so while a stalled broker holds creation
// back the target goes on and the shortfall shows (a target taken from the
// generator stood still with it: the progress line said 0 of 0 through a
// 20 s kill -STOP of Kafka, and the warning came only afterwards).
func TestTheTargetKeepsTimeWhileTheBrokerStalls(t *testing.T) {
	t.Parallel()
	w := &stallingWriter{stall: 3 * time.Second}
	cfg := generator.DefaultConfig()
	cfg.Seed, cfg.LifecycleShare = 5, 0
	p := newTestProducer(t, cfg, Settings{Rate: 200, BatchSize: 20}, w)
	ctx, cancel := context.WithTimeout(context.Background(), 3500*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	// A window inside the stall: creation has filled its batches and
	// waits by then.
	time.Sleep(time.Second)
	from, liveFrom := time.Now(), p.Stats.Live.Load()
	time.Sleep(time.Second)
	to, liveTo := time.Now(), p.Stats.Live.Load()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	asked, created := p.Asked(from, to), float64(liveTo-liveFrom)
	t.Logf("within the stall: %.0f asked for, %.0f created", asked, created)
	if want := 200 * to.Sub(from).Seconds(); math.Abs(asked-want) > 0.05*want {
		t.Errorf("%.0f orders asked for over %v at 200/s, want %.0f", asked, to.Sub(from), want)
	}
	if !behind(created, asked) {
		t.Errorf("%.0f created of %.0f asked for within the stall: not reported as behind", created, asked)
	}
}

// TestFullSpeedSendsWhatIsOpenWhenItStopsCreating: at full speed a lane
// sends only full batches, so when the count is reached and the
// generator waits for follow-ups, it must send the open batch itself.
func TestFullSpeedSendsWhatIsOpenWhenItStopsCreating(t *testing.T) {
	w := &fakeWriter{}
	cfg := generator.DefaultConfig()
	cfg.Seed, cfg.LifecycleShare, cfg.LifecycleDelay = 6, 1, time.Hour
	p := newTestProducer(t, cfg, Settings{Count: 5, BatchSize: 1000}, w)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for len(w.messages()) < 5 {
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("%d of 5 orders sent while the producer waits an hour for follow-ups", len(w.messages()))
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}
