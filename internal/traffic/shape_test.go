package traffic

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/internal/settings"
)

func TestShapesAreTheirRateAtEachTime(t *testing.T) {
	s := time.Second
	monday := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	spike := Spike{Rate: 10, Factor: 5, Length: 2 * s, Every: 10 * s, Seed: 42}
	start0, _ := spike.window(0)
	start3, _ := spike.window(3)
	cases := []struct {
		name    string
		shape   Shape
		elapsed time.Duration
		want    float64
	}{
		{"constant", Constant{Rate: 7}, time.Hour, 7},
		{"ramp at start", Ramp{From: 10, To: 100, Over: 10 * s}, 0, 10},
		{"ramp halfway", Ramp{From: 10, To: 100, Over: 10 * s}, 5 * s, 55},
		{"ramp at end", Ramp{From: 10, To: 100, Over: 10 * s}, 10 * s, 100},
		{"ramp holds", Ramp{From: 10, To: 100, Over: 10 * s}, time.Hour, 100},
		{"ramp down", Ramp{From: 100, To: 10, Over: 10 * s}, 5 * s, 55},
		{"step first", Steps{Levels: []Level{{1, 10 * s}, {2, 5 * s}}, Repeat: true}, 9 * s, 1},
		{"step second", Steps{Levels: []Level{{1, 10 * s}, {2, 5 * s}}, Repeat: true}, 10 * s, 2},
		{"step repeats", Steps{Levels: []Level{{1, 10 * s}, {2, 5 * s}}, Repeat: true}, 16 * s, 1},
		{"step repeats again", Steps{Levels: []Level{{1, 10 * s}, {2, 5 * s}}, Repeat: true}, 29 * s, 2},
		{"step holds", Steps{Levels: []Level{{1, 10 * s}, {2, 5 * s}}}, time.Hour, 2},
		{"before the first spike", spike, start0 - time.Millisecond, 10},
		{"in the first spike", spike, start0, 50},
		{"end of the first spike", spike, start0 + 2*s - time.Millisecond, 50},
		{"after the first spike", spike, start0 + 2*s, 10},
		{"in the fourth spike", spike, start3 + s, 50},
		{"diurnal at 04:00 monday", Diurnal{Rate: 100, Day: 24 * time.Hour, Loc: time.UTC}, 4 * time.Hour, 100 * dailyCurve(4, time.Monday) / weekMean},
		{"diurnal at 20:00 monday", Diurnal{Rate: 100, Day: 24 * time.Hour, Loc: time.UTC}, 20 * time.Hour, 100 * dailyCurve(20, time.Monday) / weekMean},
		// An hour-long day: 50 min in is 20:00 of the simulated day.
		{"diurnal replayed fast", Diurnal{Rate: 100, Day: time.Hour, Loc: time.UTC}, 50 * time.Minute, 100 * dailyCurve(20, time.Monday) / weekMean},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := c.shape.At(c.elapsed, monday.Add(c.elapsed))
			if math.Abs(got-c.want) > 1e-9 {
				t.Errorf("At(%v) = %v, want %v", c.elapsed, got, c.want)
			}
		})
	}
}

func TestSpikesComeOncePerPeriodWhereTheSeedPutsThem(t *testing.T) {
	a := Spike{Rate: 1, Factor: 3, Length: time.Second, Every: 10 * time.Second, Seed: 1}
	b := a
	b.Seed = 2
	differ := false
	for k := range int64(20) {
		start, end := a.window(k)
		if start < time.Duration(k)*a.Every || end > time.Duration(k+1)*a.Every {
			t.Fatalf("spike %d at %v-%v leaves its period", k, start, end)
		}
		if again, _ := a.window(k); again != start {
			t.Fatalf("spike %d moved: %v, then %v", k, start, again)
		}
		if bs, _ := b.window(k); bs != start {
			differ = true
		}
	}
	if !differ {
		t.Error("seeds 1 and 2 put every spike at the same time")
	}
}

func TestDiurnalHasQuietNightsBusyEveningsAndAMeanOfItsRate(t *testing.T) {
	d := Diurnal{Rate: 1, Day: 24 * time.Hour, Loc: time.UTC}
	monday := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	var sum float64
	const steps = 7 * 24 * 60
	for m := range steps {
		sum += d.Factor(monday.Add(time.Duration(m) * time.Minute))
	}
	if mean := sum / steps; math.Abs(mean-1) > 1e-6 {
		t.Errorf("mean over a week = %v, want 1", mean)
	}
	at := func(day, hour int) float64 {
		return d.Factor(monday.AddDate(0, 0, day).Add(time.Duration(hour) * time.Hour))
	}
	if night, evening := at(0, 3), at(0, 20); evening < 5*night {
		t.Errorf("monday 03:00 %.2f, 20:00 %.2f: want a quiet night and a busy evening", night, evening)
	}
	if morning, lull := at(1, 10), at(1, 15); morning <= lull {
		t.Errorf("tuesday 10:00 %.2f is not a morning peak over 15:00 %.2f", morning, lull)
	}
	if weekday, saturday := at(2, 13), at(5, 13); saturday <= weekday {
		t.Errorf("13:00 saturday %.2f is not busier than wednesday %.2f", saturday, weekday)
	}
}

func TestConfigBuildsEachShapeAndNamesABadSetting(t *testing.T) {
	var defaults ShapeConfig
	if err := settings.Defaults(&defaults); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"constant", "diurnal", "ramp", "step", "spike"} {
		c := defaults
		c.Name = name
		if _, err := c.Shape(10, 1); err != nil {
			t.Errorf("%s with its defaults: %v", name, err)
		}
	}
	bad := []struct {
		variable string
		rate     float64
		change   func(*ShapeConfig)
	}{
		{"PRODUCER_SHAPE", 10, func(c *ShapeConfig) { c.Name = "sawtooth" }},
		{"PRODUCER_RATE", 0, func(c *ShapeConfig) { c.Name = "ramp" }},
		{"PRODUCER_RAMP_DURATION", 10, func(c *ShapeConfig) { c.Name, c.RampDuration = "ramp", 0 }},
		{"PRODUCER_RAMP_FROM", 10, func(c *ShapeConfig) { c.Name, c.RampFrom = "ramp", -1 }},
		{"PRODUCER_STEPS", 10, func(c *ShapeConfig) { c.Name, c.Steps = "step", "2:1m,3" }},
		{"PRODUCER_STEPS", 10, func(c *ShapeConfig) { c.Name, c.Steps = "step", "x:1m" }},
		{"PRODUCER_STEPS", 10, func(c *ShapeConfig) { c.Name, c.Steps = "step", "2:0s" }},
		{"PRODUCER_SPIKE_FACTOR", 10, func(c *ShapeConfig) { c.Name, c.SpikeFactor = "spike", 0 }},
		{"PRODUCER_SPIKE_EVERY", 10, func(c *ShapeConfig) { c.Name, c.SpikeEvery = "spike", c.SpikeLength }},
		{"PRODUCER_DIURNAL_DAY", 10, func(c *ShapeConfig) { c.Name, c.DiurnalDay = "diurnal", time.Second }},
	}
	for _, b := range bad {
		c := defaults
		b.change(&c)
		_, err := c.Shape(b.rate, 1)
		var se *settings.Error
		if !errors.As(err, &se) || se.Variable != b.variable {
			t.Errorf("%+v: error %v, want one naming %s", c, err, b.variable)
		}
	}
	c := defaults
	c.Name, c.Steps = "step", "0.5:30s, 2:1m"
	s, err := c.Shape(10, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.(Steps).Levels; len(got) != 2 || got[0] != (Level{5, 30 * time.Second}) || got[1] != (Level{20, time.Minute}) {
		t.Errorf("steps = %v", got)
	}
}

func TestAsked(t *testing.T) {
	start := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	steps := Steps{Levels: []Level{{Rate: 100, Hold: 2 * time.Second}, {Rate: 300, Hold: 2 * time.Second}}, Repeat: true}
	for _, c := range []struct {
		name     string
		shape    Shape
		from, to time.Duration
		want     float64
	}{
		{"constant, 10 s", Constant{Rate: 200}, 0, 10 * time.Second, 2000},
		{"constant, a span later in the run", Constant{Rate: 200}, time.Hour, time.Hour + 500*time.Millisecond, 100},
		{"ramp from 0 to 100 over 10 s", Ramp{From: 0, To: 100, Over: 10 * time.Second}, 0, 10 * time.Second, 500},
		{"ramp, held after its end", Ramp{From: 0, To: 100, Over: 10 * time.Second}, 10 * time.Second, 20 * time.Second, 1000},
		{"steps across an edge", steps, time.Second, 3 * time.Second, 400},
		{"a long span, capped steps", Constant{Rate: 5}, 0, 48 * time.Hour, 5 * 48 * 3600},
		{"an empty span", Constant{Rate: 200}, time.Second, time.Second, 0},
		{"a reversed span", Constant{Rate: 200}, 2 * time.Second, time.Second, 0},
		{"no shape", nil, 0, time.Second, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := Asked(c.shape, start, c.from, c.to); math.Abs(got-c.want) > 1e-6*c.want+1e-9 {
				t.Errorf("Asked = %v, want %v", got, c.want)
			}
		})
	}
}
