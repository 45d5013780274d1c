package traffic

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/orderpipe/orderpipe/internal/settings"
)

// ShapeConfig is the shape's settings. Rates in it are factors of the base rate
// (PRODUCER_RATE), so one setting scales a whole load test.
type ShapeConfig struct {
	Name         string        `envconfig:"PRODUCER_SHAPE" default:"constant" desc:"how the rate of new orders moves around PRODUCER_RATE: constant, diurnal, ramp, step or spike"`
	DiurnalDay   time.Duration `envconfig:"PRODUCER_DIURNAL_DAY" default:"24h" desc:"diurnal: length of one day of the curve; 24h follows the clock, shorter replays days faster"`
	RampFrom     float64       `envconfig:"PRODUCER_RAMP_FROM" default:"0.1" desc:"ramp: starting rate, as a factor of PRODUCER_RATE"`
	RampDuration time.Duration `envconfig:"PRODUCER_RAMP_DURATION" default:"5m" desc:"ramp: time to reach PRODUCER_RATE, which then holds"`
	Steps        string        `envconfig:"PRODUCER_STEPS" default:"1:1m,2:1m,5:1m" desc:"step: factor:duration pairs played in turn"`
	StepsRepeat  bool          `envconfig:"PRODUCER_STEPS_REPEAT" default:"true" desc:"step: start over after the last step; false holds it"`
	SpikeFactor  float64       `envconfig:"PRODUCER_SPIKE_FACTOR" default:"5" desc:"spike: rate during a spike, as a factor of PRODUCER_RATE"`
	SpikeLength  time.Duration `envconfig:"PRODUCER_SPIKE_DURATION" default:"10s" desc:"spike: how long a spike lasts"`
	SpikeEvery   time.Duration `envconfig:"PRODUCER_SPIKE_EVERY" default:"5m" desc:"spike: one spike at a seeded random time in every period this long"`
	CatchUp      bool          `envconfig:"PRODUCER_CATCH_UP" default:"false" desc:"create the orders missed while Kafka could not keep up, in a burst, instead of dropping them"`
}

// Shape builds the configured shape around rate (orders per second) with
// seed (PRODUCER_SEED's value in use) for its random parts. A bad setting
// is a *settings.Error naming its variable.
func (c ShapeConfig) Shape(rate float64, seed int64) (Shape, error) {
	bad := func(name, format string, args ...any) error {
		return &settings.Error{Variable: name, Reason: fmt.Sprintf(format, args...)}
	}
	name := strings.ToLower(c.Name)
	if name != "constant" && rate <= 0 {
		return nil, bad("PRODUCER_RATE", "must be positive with PRODUCER_SHAPE=%s (0, as fast as Kafka takes them, has no shape)", name)
	}
	switch name {
	case "constant", "":
		return Constant{Rate: rate}, nil
	case "diurnal":
		if c.DiurnalDay < time.Minute {
			return nil, bad("PRODUCER_DIURNAL_DAY", "must be at least 1m")
		}
		return Diurnal{Rate: rate, Day: c.DiurnalDay, Loc: time.Local}, nil
	case "ramp":
		if c.RampFrom < 0 {
			return nil, bad("PRODUCER_RAMP_FROM", "must not be negative")
		}
		if c.RampDuration <= 0 {
			return nil, bad("PRODUCER_RAMP_DURATION", "must be positive")
		}
		return Ramp{From: c.RampFrom * rate, To: rate, Over: c.RampDuration}, nil
	case "step":
		levels, err := parseSteps(c.Steps, rate)
		if err != nil {
			return nil, bad("PRODUCER_STEPS", "%v", err)
		}
		return Steps{Levels: levels, Repeat: c.StepsRepeat}, nil
	case "spike":
		switch {
		case c.SpikeFactor <= 0:
			return nil, bad("PRODUCER_SPIKE_FACTOR", "must be positive")
		case c.SpikeLength <= 0:
			return nil, bad("PRODUCER_SPIKE_DURATION", "must be positive")
		case c.SpikeEvery <= c.SpikeLength:
			return nil, bad("PRODUCER_SPIKE_EVERY", "must be longer than PRODUCER_SPIKE_DURATION (%v)", c.SpikeLength)
		}
		return Spike{Rate: rate, Factor: c.SpikeFactor, Length: c.SpikeLength, Every: c.SpikeEvery, Seed: seed}, nil
	}
	return nil, bad("PRODUCER_SHAPE", "%q is not constant, diurnal, ramp, step or spike", c.Name)
}

// parseSteps reads "factor:duration,..." into levels around rate.
func parseSteps(s string, rate float64) ([]Level, error) {
	var levels []Level
	for part := range strings.SplitSeq(s, ",") {
		f, d, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok {
			return nil, fmt.Errorf("%q is not factor:duration", part)
		}
		factor, err := strconv.ParseFloat(f, 64)
		if err != nil || factor < 0 {
			return nil, fmt.Errorf("%q: the factor is not a number of at least 0", part)
		}
		hold, err := time.ParseDuration(d)
		if err != nil || hold <= 0 {
			return nil, fmt.Errorf("%q: the duration is not a positive duration such as 30s", part)
		}
		levels = append(levels, Level{Rate: factor * rate, Hold: hold})
	}
	return levels, nil
}
