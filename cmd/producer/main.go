// Command producer generates realistic e-commerce orders and their lifecycle
// events and writes them as JSON to Kafka, keyed by order_id.
//
// Every setting comes from the environment; `producer -h` lists them all
// with their defaults. `producer healthcheck` probes a running producer's ops
// listener, for container health checks in images without curl.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/orderpipe/orderpipe/internal/generator"
	"github.com/orderpipe/orderpipe/internal/kafka"
	"github.com/orderpipe/orderpipe/internal/ops"
	"github.com/orderpipe/orderpipe/internal/producer"
	"github.com/orderpipe/orderpipe/internal/settings"
	"github.com/orderpipe/orderpipe/internal/traffic"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

func exitCode(err error, stderr io.Writer) int {
	return settings.ExitCode("producer", "producer -h", err, stderr)
}

// config is every setting of the producer, read by envconfig.
type config struct {
	kafka.Config
	kafka.WriterConfig
	kafka.TopicConfig
	kafka.TopicLayout
	ops.LogConfig
	ops.DaemonConfig
	OpsConfig
	traffic.ShapeConfig
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
	Lanes          int           `envconfig:"PRODUCER_LANES" default:"1" desc:"batches written at once, each by a lane that owns a share of the keys (an order's events stay in order); more can help against a distant broker, and cost CPU in smaller requests"`
}

// OpsConfig is the ops listener's settings, a struct of its own so that
// `producer healthcheck` reads OPS_ADDR, default included, exactly as the
// daemon it probes does.
type OpsConfig struct {
	OpsAddr  string `envconfig:"OPS_ADDR" default:"127.0.0.1:9100" desc:"listen address of /metrics, /healthz and /readyz"`
	OpsPprof bool   `envconfig:"OPS_PPROF" default:"false" desc:"serve /debug/pprof on the ops listener (local profiling only)"`
}

func (c config) validate() error {
	bad := func(name, format string, args ...any) error {
		return &settings.Error{Variable: name, Reason: fmt.Sprintf(format, args...)}
	}
	if err := c.Config.Validate(); err != nil {
		return err
	}
	if err := c.WriterConfig.Validate(); err != nil {
		return err
	}
	if err := c.TopicConfig.Validate(); err != nil {
		return err
	}
	if err := c.TopicLayout.Validate(); err != nil {
		return err
	}
	if err := c.DaemonConfig.Validate(); err != nil {
		return err
	}
	genCfg := c.generatorConfig()
	if err := genCfg.Validate(); err != nil {
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
	case c.Lanes < 1 || c.Lanes > 64:
		return bad("PRODUCER_LANES", "must be between 1 and 64")
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

func (c config) generatorConfig() generator.Config {
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

// loadConfig reads the environment; a bad value is a usage error naming the
// variable.
func loadConfig() (config, error) {
	var cfg config
	if err := settings.Load(&cfg); err != nil {
		return cfg, err
	}
	if err := cfg.validate(); err != nil {
		return cfg, settings.Usage(err)
	}
	return cfg, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "-h", "-help", "--help", "help":
			fmt.Fprintln(stdout, "producer writes generated orders to Kafka. Settings come from these environment variables:")
			return settings.Print(stdout, &config{})
		case "healthcheck":
			var oc OpsConfig
			if err := settings.Load(&oc); err != nil {
				return err
			}
			probeCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			return ops.Probe(probeCtx, oc.OpsAddr)
		default:
			return settings.Usage(fmt.Errorf("unknown argument %q", args[0]))
		}
	}
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	log, err := ops.NewLogger(stdout, cfg.LogConfig, "producer")
	if err != nil {
		return settings.Usage(err)
	}
	return produce(ctx, cfg, log)
}

func produce(ctx context.Context, cfg config, log *slog.Logger) error {
	gen, err := generator.New(cfg.generatorConfig())
	if err != nil {
		return settings.Usage(err)
	}
	log.Info("producer starting", "config", settings.LogValue(cfg), "seed", gen.Seed())

	reg := ops.NewRegistry()
	metrics := newMetrics(reg)
	ready := ops.NewReadiness("connecting to Kafka")
	opsSrv, err := ops.Listen(cfg.OpsAddr, reg, ready, ops.WithPprof(cfg.OpsPprof))
	if err != nil {
		return err
	}
	log.Info("ops listener up", "addr", opsSrv.Addr())

	admin, err := kafka.NewAdmin(cfg.Config)
	if err != nil {
		return settings.Usage(err)
	}
	w, err := kafka.NewWriter(cfg.Config, cfg.WriterConfig, cfg.Topic)
	if err != nil {
		return settings.Usage(err)
	}
	defer w.Close()
	out := producer.NewKafkaWriter(w, log, ready, metrics)
	set := producer.Settings{
		Rate:                 cfg.Rate,
		Count:                cfg.Count,
		BackfillDays:         cfg.BackfillDays,
		BackfillOrdersPerDay: cfg.BackfillPerDay,
		BatchSize:            cfg.BatchSize,
		BatchBytes:           int(cfg.BatchBytes),
		Linger:               cfg.BatchTimeout,
		ShutdownTimeout:      cfg.ShutdownTimeout,
		CatchUp:              cfg.CatchUp,
		Lanes:                cfg.Lanes,
	}
	if cfg.Rate > 0 { // 0: as fast as Kafka takes them, no shape
		if set.Shape, err = cfg.ShapeConfig.Shape(cfg.Rate, gen.Seed()); err != nil {
			return settings.Usage(err)
		}
		log.Info("traffic shape", "shape", cfg.Name, "rate", cfg.Rate, "catch_up", cfg.CatchUp)
	}

	// The ops server outlives the signal, so /metrics and /readyz still
	// answer while the producer flushes; it stops when the worker returns.
	// An ops server failure stops the worker too.
	return ops.RunWith(ctx, opsSrv.Run, func(workCtx context.Context) error {
		partitions, err := admin.EnsureTopic(workCtx, cfg.TopicLayout.Spec(cfg.Topic), log)
		if err != nil {
			if workCtx.Err() != nil {
				log.Info("stopped before Kafka was reachable")
				return nil
			}
			return err
		}
		log.Info("topic ready", "topic", cfg.Topic, "partitions", partitions)
		p, err := producer.New(gen, out, set, log, metrics)
		if err != nil {
			return settings.Usage(err)
		}
		ready.Ready()
		progressDone := make(chan struct{})
		progressStopped := make(chan struct{})
		go func() {
			defer close(progressStopped)
			reportProgress(progressDone, cfg.ProgressInterval, p, out, log)
		}()
		err = p.Run(workCtx)
		close(progressDone)
		<-progressStopped
		s := &p.Stats
		log.Info("producer stopped",
			"produced", s.Produced.Load(), "abandoned", s.Abandoned.Load(), "failed_attempts", out.Stats.Failed.Load(),
			"possible_duplicates", out.Stats.PossibleDuplicates.Load(),
			"orders", s.Orders.Load(), "follow_ups", s.FollowUps.Load(), "malformed", s.Malformed.Load(),
			"bytes", s.Bytes.Load())
		return err
	})
}

// reportProgress logs a progress line every interval until done closes:
// the target rate of new orders and the rate achieved, and a warning when
// Kafka does not keep up with the target.
func reportProgress(done <-chan struct{}, every time.Duration, p *producer.Producer, out *producer.KafkaWriter, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	last, lastAt := int64(0), time.Now()
	lastLive, lastExpected := int64(0), 0.0
	for {
		select {
		case <-done:
			return
		case now := <-t.C:
			s := &p.Stats
			produced, live, expected := s.Produced.Load(), s.Live.Load(), s.Expected()
			dt := now.Sub(lastAt)
			achieved := ops.PerSecond(live-lastLive, dt)
			// The target over the interval, not at its end, to compare
			// with what was achieved over it (a ramp's end is above both).
			target := ops.PerSecond(int64(math.Round(expected-lastExpected)), dt)
			log.Info("progress",
				"target_per_s", target, "achieved_per_s", achieved,
				"rate_per_s", ops.PerSecond(produced-last, dt),
				"produced", produced, "failed_attempts", out.Stats.Failed.Load(),
				"possible_duplicates", out.Stats.PossibleDuplicates.Load(), "bytes", s.Bytes.Load(),
				"orders", s.Orders.Load(), "follow_ups", s.FollowUps.Load(), "malformed", s.Malformed.Load(),
				"skipped", s.Skipped.Load(), "pending_follow_ups", s.Pending.Load(), "backfill_done", s.BackfillDone.Load())
			if behind(float64(live-lastLive), expected-lastExpected) {
				log.Warn("kafka is not keeping up with the target rate",
					"target_per_s", target, "achieved_per_s", achieved,
					"skipped", s.Skipped.Load())
			}
			last, lastAt, lastLive, lastExpected = produced, now, live, expected
		}
	}
}

// behind tells whether the orders created over an interval fall short of
// what the shape asked for by more than a tenth (and more than one order,
// so a low rate's rounding is not a shortfall).
func behind(created, asked float64) bool {
	return asked > 0 && created < 0.9*asked-1
}
