package producer

import (
	"context"
	"log/slog"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/orderpipe/orderpipe/internal/generator"
	"github.com/orderpipe/orderpipe/internal/kafka"
	"github.com/orderpipe/orderpipe/internal/ops"
	"github.com/orderpipe/orderpipe/internal/settings"
	"github.com/orderpipe/orderpipe/internal/traffic"
)

// Setup is everything a producer daemon is built from; the connections and
// the topic already validated.
type Setup struct {
	Kafka  kafka.Config
	Writer kafka.WriterConfig
	Topic  kafka.TopicSpec // created at start unless it exists
	Config Config
}

// Options are what the caller brings besides the settings. Log is
// required; the rest may be nil.
type Options struct {
	Log *slog.Logger
	// Registry gets the producer's metrics.
	Registry prometheus.Registerer
	// Ready is marked ready once the topic is, and not ready while writes
	// fail.
	Ready *ops.Readiness
	// Observer is told of each batch beside the metrics (a test's record).
	Observer Observer
	// Wrap goes between the Producer and the Kafka writer (a test's
	// recorder of what Kafka acknowledged).
	Wrap func(Writer) Writer
}

// Daemon is one assembled producer: the generator, its shape, the Kafka
// writer and the Producer, with the topic's creation at start, progress
// lines and the final count. The producer command and the tests that run
// whole producers build it here, so the tests prove the wiring that ships.
type Daemon struct {
	s     Setup
	log   *slog.Logger
	ready *ops.Readiness
	admin *kafka.Admin
	w     *kafkago.Writer
	// Out is the Kafka adapter, whose Stats count resends and possible
	// duplicates; Producer is the engine, whose Stats count the rest.
	Out      *KafkaWriter
	Producer *Producer
	// Shape is the traffic shape in use; nil at full speed.
	Shape traffic.Shape
	seed  int64
}

// Assemble builds a producer from s. It does not contact Kafka, so a
// producer can start and report why it waits. A bad s.Config is an error
// naming the variable.
func Assemble(s Setup, opt Options) (*Daemon, error) {
	if err := s.Config.Validate(); err != nil {
		return nil, err
	}
	c := s.Config
	gen, err := generator.New(c.GeneratorConfig())
	if err != nil {
		return nil, err
	}
	d := &Daemon{s: s, log: opt.Log, ready: opt.Ready, seed: gen.Seed()}
	if c.Rate > 0 { // 0: as fast as Kafka takes them, no shape
		if d.Shape, err = c.ShapeConfig.Shape(c.Rate, gen.Seed()); err != nil {
			return nil, err
		}
	}
	if d.admin, err = kafka.NewAdmin(s.Kafka); err != nil {
		return nil, err
	}
	if d.w, err = kafka.NewWriter(s.Kafka, s.Writer, s.Topic.Name); err != nil {
		return nil, err
	}
	var obs observers
	if opt.Registry != nil {
		obs = append(obs, newMetrics(opt.Registry))
	}
	if opt.Observer != nil {
		obs = append(obs, opt.Observer)
	}
	d.Out = NewKafkaWriter(d.w, opt.Log, opt.Ready, obs)
	var out Writer = d.Out
	if opt.Wrap != nil {
		out = opt.Wrap(d.Out)
	}
	d.Producer, err = New(gen, out, Settings{
		Rate:                 c.Rate,
		Shape:                d.Shape,
		CatchUp:              c.CatchUp,
		Count:                c.Count,
		BackfillDays:         c.BackfillDays,
		BackfillOrdersPerDay: c.BackfillPerDay,
		BatchSize:            s.Writer.BatchSize,
		BatchBytes:           int(s.Writer.BatchBytes),
		Linger:               s.Writer.BatchTimeout,
		Lanes:                c.Lanes,
		ShutdownTimeout:      c.ShutdownTimeout,
	}, opt.Log, obs)
	if err != nil {
		d.w.Close()
		return nil, err
	}
	return d, nil
}

// Seed is the generator's seed: PRODUCER_SEED, or the one drawn for 0.
func (d *Daemon) Seed() int64 { return d.seed }

// Run creates the topic unless it exists (waiting for Kafka), produces
// until the count is reached or ctx ends, flushes, and logs the final
// counts. A ctx that ends while Kafka is still unreachable is a clean
// stop. Run closes the writer: a Daemon runs once.
func (d *Daemon) Run(ctx context.Context) error {
	defer d.w.Close()
	log := d.log
	partitions, err := d.admin.EnsureTopic(ctx, d.s.Topic, log)
	if err != nil {
		if ctx.Err() != nil {
			log.Info("stopped before Kafka was reachable")
			return nil
		}
		return err
	}
	lanes, err := lanesFor(d.s.Config.Lanes, partitions)
	if err != nil {
		return settings.Usage(err)
	}
	d.Producer.set.Lanes = lanes
	log.Info("topic ready", "topic", d.s.Topic.Name, "partitions", partitions, "lanes", lanes)
	if d.Shape != nil {
		log.Info("traffic shape", "shape", d.s.Config.Name, "rate", d.s.Config.Rate, "catch_up", d.s.Config.CatchUp)
	}
	if d.ready != nil {
		d.ready.Ready()
	}
	progressDone := make(chan struct{})
	progressStopped := make(chan struct{})
	go func() {
		defer close(progressStopped)
		d.reportProgress(progressDone, d.s.Config.ProgressInterval)
	}()
	err = d.Producer.Run(ctx)
	close(progressDone)
	<-progressStopped
	s := &d.Producer.Stats
	log.Info("producer stopped",
		"produced", s.Produced.Load(), "abandoned", s.Abandoned.Load(), "failed_attempts", d.Out.Stats.Failed.Load(),
		"possible_duplicates", d.Out.Stats.PossibleDuplicates.Load(),
		"orders", s.Orders.Load(), "follow_ups", s.FollowUps.Load(), "malformed", s.Malformed.Load(),
		"skipped", s.Skipped.Load(), "bytes", s.Bytes.Load())
	return err
}

// reportProgress logs a progress line every interval until done closes:
// the target rate of new orders and the rate achieved, and a warning when
// Kafka does not keep up with the target.
func (d *Daemon) reportProgress(done <-chan struct{}, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	last, lastAt := int64(0), time.Now()
	lastLive := int64(0)
	for {
		select {
		case <-done:
			return
		case now := <-t.C:
			s := &d.Producer.Stats
			produced, live := s.Produced.Load(), s.Live.Load()
			asked := d.Producer.Asked(lastAt, now)
			dt := now.Sub(lastAt)
			achieved := ops.PerSecond(live-lastLive, dt)
			// The target over the interval, not at its end, to compare
			// with what was achieved over it (a ramp's end is above both).
			target := ops.PerSecond(int64(math.Round(asked)), dt)
			d.log.Info("progress",
				"target_per_s", target, "achieved_per_s", achieved,
				"rate_per_s", ops.PerSecond(produced-last, dt),
				"produced", produced, "failed_attempts", d.Out.Stats.Failed.Load(),
				"possible_duplicates", d.Out.Stats.PossibleDuplicates.Load(), "bytes", s.Bytes.Load(),
				"orders", s.Orders.Load(), "follow_ups", s.FollowUps.Load(), "malformed", s.Malformed.Load(),
				"skipped", s.Skipped.Load(), "pending_follow_ups", s.Pending.Load(), "backfill_done", s.BackfillDone.Load())
			if behind(float64(live-lastLive), asked) {
				d.log.Warn("kafka is not keeping up with the target rate",
					"target_per_s", target, "achieved_per_s", achieved, "skipped", s.Skipped.Load())
			}
			last, lastAt, lastLive = produced, now, live
		}
	}
}

// behind tells whether the orders created over an interval fall short of
// what the shape asked for by more than a tenth (and more than one order,
// so a low rate's rounding is not a shortfall).
func behind(created, asked float64) bool {
	return asked > 0 && created < 0.9*asked-1
}

// observers tells each of its Observers.
type observers []Observer

func (o observers) BatchWritten(msgs []kafkago.Message, took time.Duration) {
	for _, x := range o {
		x.BatchWritten(msgs, took)
	}
}

func (o observers) Generated(ev generator.Event) {
	for _, x := range o {
		x.Generated(ev)
	}
}

func (o observers) Resending(messages, mayDuplicate int) {
	for _, x := range o {
		x.Resending(messages, mayDuplicate)
	}
}
