// Package traffic shapes the rate of new orders over time, for load tests:
// a constant rate, a daily curve, a ramp, steps and spikes. Every shape is
// a pure function of the time since the run started (and, for the daily
// curve, of the clock), so a run is reproducible from its settings and
// seed, and each shape is tested as a table of times and rates.
package traffic

import (
	"math"
	"time"
)

// Shape is the target rate of new orders, per second, elapsed after the
// run started at wall-clock time at (= start + elapsed).
type Shape interface {
	At(elapsed time.Duration, at time.Time) float64
}

// Constant is one rate, always.
type Constant struct{ Rate float64 }

// At implements Shape.
func (c Constant) At(time.Duration, time.Time) float64 { return c.Rate }

// Ramp goes linearly from From to To over Over, then holds To.
type Ramp struct {
	From, To float64
	Over     time.Duration
}

// At implements Shape.
func (r Ramp) At(elapsed time.Duration, _ time.Time) float64 {
	if elapsed >= r.Over || r.Over <= 0 {
		return r.To
	}
	f := float64(max(elapsed, 0)) / float64(r.Over)
	return r.From + (r.To-r.From)*f
}

// Level is one step: Rate for Hold.
type Level struct {
	Rate float64
	Hold time.Duration
}

// Steps plays its levels in turn, then starts over (Repeat) or holds the
// last.
type Steps struct {
	Levels []Level
	Repeat bool
}

// At implements Shape.
func (s Steps) At(elapsed time.Duration, _ time.Time) float64 {
	if len(s.Levels) == 0 {
		return 0
	}
	var cycle time.Duration
	for _, l := range s.Levels {
		cycle += l.Hold
	}
	elapsed = max(elapsed, 0)
	if elapsed >= cycle {
		if !s.Repeat || cycle <= 0 {
			return s.Levels[len(s.Levels)-1].Rate
		}
		elapsed %= cycle
	}
	for _, l := range s.Levels {
		if elapsed < l.Hold {
			return l.Rate
		}
		elapsed -= l.Hold
	}
	return s.Levels[len(s.Levels)-1].Rate
}

// Spike is Rate with, once in every period of Every, Factor × Rate for
// Length, like a flash sale. Where in its period each spike starts is drawn
// from Seed, so spikes come at irregular times that a seed repeats.
type Spike struct {
	Rate, Factor  float64
	Length, Every time.Duration
	Seed          int64
}

// At implements Shape.
func (s Spike) At(elapsed time.Duration, _ time.Time) float64 {
	if s.Every <= 0 || s.Length <= 0 || elapsed < 0 {
		return s.Rate
	}
	start, _ := s.window(int64(elapsed / s.Every))
	if in := elapsed - start; in >= 0 && in < s.Length {
		return s.Rate * s.Factor
	}
	return s.Rate
}

// window is the spike of period k: its start and end since the run began.
func (s Spike) window(k int64) (time.Duration, time.Duration) {
	slack := max(s.Every-s.Length, 0)
	u := float64(splitmix(uint64(s.Seed)^uint64(k)*0x9e3779b97f4a7c15)>>11) / (1 << 53)
	start := time.Duration(k)*s.Every + time.Duration(u*float64(slack))
	return start, start + s.Length
}

// splitmix is SplitMix64's finaliser: a well-spread hash of x.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Diurnal is a shop's day around a mean Rate: a quiet night, a morning and a
// higher evening peak on weekdays, a later and broader day at weekends.
// With Day of 24 h it follows the clock in Loc, so a live run continues
// the backfilled history; a shorter Day replays days faster, starting at
// the time of day the run starts.
type Diurnal struct {
	Rate float64
	Day  time.Duration
	Loc  *time.Location
}

// At implements Shape.
func (d Diurnal) At(elapsed time.Duration, at time.Time) float64 {
	if d.Day > 0 && d.Day != 24*time.Hour {
		// The simulated clock runs 24h/Day times faster from the start.
		at = at.Add(-elapsed).Add(time.Duration(float64(elapsed) * float64(24*time.Hour) / float64(d.Day)))
	}
	return d.Rate * d.Factor(at)
}

// Factor is the daily curve at t, relative to its mean over a week: the
// density the backfill spreads its history by.
func (d Diurnal) Factor(t time.Time) float64 {
	if d.Loc != nil {
		t = t.In(d.Loc)
	}
	h := float64(t.Hour()) + float64(t.Minute())/60 + float64(t.Second())/3600
	return dailyCurve(h, t.Weekday()) / weekMean
}

// Daily is a shape with a daily curve, which the backfill follows.
type Daily interface {
	Factor(t time.Time) float64
}

// dailyCurve is the raw curve at hour h (0-24) of a weekday: a floor for
// the night plus two peaks.
func dailyCurve(h float64, wd time.Weekday) float64 {
	if wd == time.Saturday || wd == time.Sunday {
		return 0.1 + 1.1*bump(h, 12.5, 2.5) + 1.1*bump(h, 20.5, 2.2)
	}
	return 0.1 + 0.9*bump(h, 10.5, 2) + 1.3*bump(h, 20, 2.2)
}

// bump is a bell around hour mu, width sigma, measured round the clock (so
// 23:00 is near 01:00).
func bump(h, mu, sigma float64) float64 {
	d := math.Abs(h - mu)
	d = math.Min(d, 24-d)
	return math.Exp(-d * d / (2 * sigma * sigma))
}

// weekMean is dailyCurve's mean over a week, so that Diurnal's Rate is its
// mean rate.
var weekMean = func() float64 {
	var sum float64
	const perDay = 24 * 60
	for wd := range 7 {
		for m := range perDay {
			sum += dailyCurve(float64(m)/60, time.Weekday(wd))
		}
	}
	return sum / (7 * perDay)
}()

// Asked is how many orders s asks for between elapsed from and to of a run
// that started at start: its rate integrated over the span (midpoint rule,
// steps of 10 ms, or more for a long span: at most 10,000 looks at s).
// It is what a broker that always kept up would have been sent, so it can
// be compared with what was created, whatever held the creation back.
func Asked(s Shape, start time.Time, from, to time.Duration) float64 {
	if s == nil || to <= from {
		return 0
	}
	n := max(int64((to-from)/askedStep), 1)
	n = min(n, 10_000)
	step := (to - from) / time.Duration(n)
	var sum float64
	for i := range n {
		mid := from + time.Duration(i)*step + step/2
		sum += s.At(mid, start.Add(mid))
	}
	return sum * step.Seconds()
}

const askedStep = 10 * time.Millisecond
