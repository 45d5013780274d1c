package producer

import (
	"errors"
	"fmt"
	"time"

	"github.com/orderpipe/orderpipe/internal/generator"
	"github.com/orderpipe/orderpipe/internal/ops"
	"github.com/orderpipe/orderpipe/internal/settings"
	"github.com/orderpipe/orderpipe/internal/traffic"
)

// Config is the producer's own settings, besides its connections and
// topic: cmd/producer embeds it in what it reads from the environment, and
// the tests start from its defaults (settings.Defaults), so the default
// tags here are the one home of the producer's defaults and Assemble the
// one place they become the generator's, the shape's and the Producer's.
type Config struct {
	Rate           float64       `envconfig:"PRODUCER_RATE" default:"10" desc:"new orders per second; 0 = as fast as Kafka takes them"`
	Count          int64         `envconfig:"PRODUCER_COUNT" default:"0" desc:"new orders to create, then finish their scheduled lifecycle events and exit; 0 = run until stopped"`
	Seed           int64         `envconfig:"PRODUCER_SEED" default:"0" desc:"seed for a reproducible stream; 0 = random (the seed is logged)"`
	Customers      int           `envconfig:"PRODUCER_CUSTOMERS" default:"5000" desc:"size of the pool of returning customers"`
	Products       int           `envconfig:"PRODUCER_PRODUCTS" default:"500" desc:"size of the product catalog"`
	Currency       string        `envconfig:"PRODUCER_CURRENCY" default:"USD" desc:"ISO 4217 currency of every order"`
	LifecycleShare float64       `envconfig:"PRODUCER_LIFECYCLE_SHARE" default:"0.8" desc:"share of orders that go on to paid, shipped, delivered or cancelled (0..1)"`
	CancelShare    float64       `envconfig:"PRODUCER_CANCEL_SHARE" default:"0.1" desc:"share of those that end cancelled (0..1)"`
	LifecycleDelay time.Duration `envconfig:"PRODUCER_LIFECYCLE_DELAY" default:"30s" desc:"mean delay between two lifecycle events of an order; 0 = immediately"`
	MalformedShare float64       `envconfig:"PRODUCER_MALFORMED_SHARE" default:"0" desc:"share of deliberately malformed messages, to exercise dead-letter paths (0..1)"`
	BackfillDays   int           `envconfig:"PRODUCER_BACKFILL_DAYS" default:"0" desc:"days of history to emit at full speed before going live"`
	BackfillPerDay int           `envconfig:"PRODUCER_BACKFILL_ORDERS_PER_DAY" default:"2000" desc:"orders per day of history"`
	Lanes          int           `envconfig:"PRODUCER_LANES" default:"0" desc:"batches written at once, each lane sending its own partitions' batches in order; 0 = one per partition, up to 8 (the largest divisor of the partition count that is at most 8); otherwise a divisor of the partition count, such as 1 for one batch at a time"`
	traffic.ShapeConfig
	ops.DaemonConfig
}

// Validate reports the first setting the producer cannot run with, naming
// its variable.
func (c Config) Validate() error {
	if err := c.DaemonConfig.Validate(); err != nil {
		return err
	}
	bad := func(name, format string, args ...any) error {
		return &settings.Error{Variable: name, Reason: fmt.Sprintf(format, args...)}
	}
	if err := c.GeneratorConfig().Validate(); err != nil {
		var ce *generator.ConfigError
		if errors.As(err, &ce) {
			return bad(generatorVariables[ce.Field], "%s", ce.Reason)
		}
		return err
	}
	switch {
	case c.Rate < 0:
		return bad("PRODUCER_RATE", "must not be negative")
	case c.Count < 0:
		return bad("PRODUCER_COUNT", "must not be negative")
	case c.BackfillDays < 0 || c.BackfillDays > 366:
		return bad("PRODUCER_BACKFILL_DAYS", "must be between 0 and 366")
	case c.BackfillPerDay < 1:
		return bad("PRODUCER_BACKFILL_ORDERS_PER_DAY", "must be at least 1")
	case c.Lanes < 0 || c.Lanes > maxLanes:
		return bad("PRODUCER_LANES", "must be between 0 and %d", maxLanes)
	}
	_, err := c.ShapeConfig.Shape(c.Rate, c.Seed)
	return err
}

// generatorVariables names the variable behind each generator field, so a
// range error from the order package points at what the user set.
var generatorVariables = map[string]string{
	"Customers":      "PRODUCER_CUSTOMERS",
	"Products":       "PRODUCER_PRODUCTS",
	"Currency":       "PRODUCER_CURRENCY",
	"LifecycleShare": "PRODUCER_LIFECYCLE_SHARE",
	"CancelShare":    "PRODUCER_CANCEL_SHARE",
	"LifecycleDelay": "PRODUCER_LIFECYCLE_DELAY",
	"MalformedShare": "PRODUCER_MALFORMED_SHARE",
	"Seed":           "PRODUCER_SEED",
}

// GeneratorConfig is the generator's configuration.
func (c Config) GeneratorConfig() generator.Config {
	return generator.Config{
		Seed:           c.Seed,
		Customers:      c.Customers,
		Products:       c.Products,
		Currency:       c.Currency,
		LifecycleShare: c.LifecycleShare,
		CancelShare:    c.CancelShare,
		LifecycleDelay: c.LifecycleDelay,
		MalformedShare: c.MalformedShare,
	}
}
