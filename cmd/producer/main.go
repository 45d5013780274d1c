// Command producer generates realistic e-commerce orders and their lifecycle
// events and writes them as JSON to Kafka, keyed by order_id.
//
// Every setting comes from the environment; `producer -h` lists them all
// with their defaults. `producer healthcheck` probes a running producer's ops
// listener, for container health checks in images without curl.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/orderpipe/orderpipe/internal/kafka"
	"github.com/orderpipe/orderpipe/internal/ops"
	"github.com/orderpipe/orderpipe/internal/producer"
	"github.com/orderpipe/orderpipe/internal/settings"
)

func main() {
	tuneGC()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// tuneGC lets the heap grow to 4x the live data between collections
// instead of 2x, under a soft 48 MiB limit, unless GOGC or GOMEMLIMIT say
// otherwise. The live heap is small (the batches in flight) and the
// garbage large (a JSON document per order), so at full speed collection
// was a good part of the CPU; this keeps the process within its 64 MB.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(300)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(48 << 20)
	}
}

func exitCode(err error, stderr io.Writer) int {
	return settings.ExitCode("producer", "producer -h", err, stderr)
}

// Aliases name the embedded settings so that two structs called Config
// can sit in one.
type (
	KafkaConfig    = kafka.Config
	ProducerConfig = producer.Config
)

// config is every setting of the producer, read by envconfig.
type config struct {
	KafkaConfig
	kafka.WriterConfig
	kafka.TopicConfig
	kafka.TopicLayout
	ops.LogConfig
	OpsConfig
	ProducerConfig
}

// OpsConfig is the ops listener's settings, a struct of its own so that
// `producer healthcheck` reads OPS_ADDR, default included, exactly as the
// daemon it probes does.
type OpsConfig struct {
	OpsAddr  string `envconfig:"OPS_ADDR" default:"127.0.0.1:9100" desc:"listen address of /metrics, /healthz and /readyz"`
	OpsPprof bool   `envconfig:"OPS_PPROF" default:"false" desc:"serve /debug/pprof on the ops listener (local profiling only)"`
}

func (c config) validate() error {
	for _, v := range []func() error{c.KafkaConfig.Validate, c.WriterConfig.Validate, c.TopicConfig.Validate,
		c.TopicLayout.Validate, c.ProducerConfig.Validate} {
		if err := v(); err != nil {
			return err
		}
	}
	return nil
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
	reg := ops.NewRegistry()
	ready := ops.NewReadiness("connecting to Kafka")
	d, err := producer.Assemble(producer.Setup{
		Kafka: cfg.KafkaConfig, Writer: cfg.WriterConfig, Topic: cfg.TopicLayout.Spec(cfg.Topic), Config: cfg.ProducerConfig,
	}, producer.Options{Log: log, Registry: reg, Ready: ready})
	if err != nil {
		return settings.Usage(err)
	}
	log.Info("producer starting", "config", settings.LogValue(cfg), "seed", d.Seed())
	opsSrv, err := ops.Listen(cfg.OpsAddr, reg, ready, ops.WithPprof(cfg.OpsPprof))
	if err != nil {
		return err
	}
	log.Info("ops listener up", "addr", opsSrv.Addr())
	// The ops server outlives the signal, so /metrics and /readyz still
	// answer while the producer flushes; it stops when the worker returns.
	// An ops server failure stops the worker too.
	return ops.RunWith(ctx, opsSrv.Run, d.Run)
}
