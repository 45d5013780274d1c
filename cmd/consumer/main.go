// Command consumer is orderpipe's Go path from Kafka to Elasticsearch: a
// consumer group member that indexes orders idempotently (by order_id and
// external version), dead-letters bad input, and commits offsets only below
// messages that are handled. See internal/pipeline for the rules.
//
// Configuration is read from the environment; `consumer -h` lists every
// variable with its default. `consumer healthcheck` probes the ops listener's
// /healthz, for images without curl.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/orderpipe/orderpipe/internal/consumer"
	"github.com/orderpipe/orderpipe/internal/elastic"
	"github.com/orderpipe/orderpipe/internal/kafka"
	"github.com/orderpipe/orderpipe/internal/ops"
	"github.com/orderpipe/orderpipe/internal/pipeline"
	"github.com/orderpipe/orderpipe/internal/settings"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

func exitCode(err error, stderr io.Writer) int {
	return settings.ExitCode("consumer", "consumer -h", err, stderr)
}

// Aliases give the embedded configurations distinct field names; envconfig
// flattens embedded structs, so their variables keep their own names.
// They are exported because envconfig skips unexported fields.
type (
	KafkaConfig    = kafka.Config
	WriterConfig   = kafka.WriterConfig
	ElasticConfig  = elastic.Config
	ConsumerConfig = consumer.Config
)

type config struct {
	KafkaConfig
	WriterConfig
	ElasticConfig
	kafka.TopicConfig
	kafka.DLQConfig
	kafka.DLQLayout
	elastic.TemplateConfig
	ops.LogConfig
	OpsConfig
	ConsumerConfig
}

// OpsConfig is the ops listener's settings, a struct of its own so that
// `consumer healthcheck` reads OPS_ADDR, default included, exactly as the
// daemon it probes does.
type OpsConfig struct {
	OpsAddr  string `envconfig:"OPS_ADDR" default:"127.0.0.1:9101" desc:"listen address for /metrics, /healthz and /readyz"`
	OpsPprof bool   `envconfig:"OPS_PPROF" default:"false" desc:"serve /debug/pprof on the ops listener (local profiling only)"`
}

func (c *config) validate() error {
	for _, v := range []func() error{c.KafkaConfig.Validate, c.WriterConfig.Validate, c.ElasticConfig.Validate,
		c.TopicConfig.Validate, func() error { return c.DLQConfig.Validate(c.TopicConfig) }, c.DLQLayout.Validate, c.TemplateConfig.Validate,
		c.ConsumerConfig.Validate} {
		if err := v(); err != nil {
			return err
		}
	}
	if c.OpsAddr == "" {
		return &settings.Error{Variable: "OPS_ADDR", Reason: "is empty"}
	}
	return nil
}

// loadConfig reads and checks the environment; every error names the
// variable and is a *settings.UsageError.
func loadConfig() (config, error) {
	var c config
	if err := settings.Load(&c); err != nil {
		return c, err
	}
	if err := c.validate(); err != nil {
		return c, settings.Usage(err)
	}
	return c, nil
}

func usage(w io.Writer) error {
	fmt.Fprint(w, "Usage: consumer [healthcheck]\n\n"+
		"Reads orders from Kafka and indexes them into Elasticsearch, at least once and\n"+
		"idempotently; bad messages go to the dead-letter topic. Settings come from these\n"+
		"environment variables:\n")
	return settings.Print(w, &config{})
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	switch {
	case len(args) == 0:
	case len(args) == 1 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help"):
		return usage(stdout)
	case len(args) == 1 && args[0] == "healthcheck":
		var oc OpsConfig
		if err := settings.Load(&oc); err != nil {
			return err
		}
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		return ops.Probe(pctx, oc.OpsAddr)
	default:
		return settings.Usage(fmt.Errorf("unexpected arguments %q", args))
	}

	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	log, err := ops.NewLogger(stdout, cfg.LogConfig, "consumer")
	if err != nil {
		return settings.Usage(err)
	}
	log.Info("starting", "config", settings.LogValue(cfg))

	reg := ops.NewRegistry()
	metrics := pipeline.NewMetrics(reg)
	readiness := ops.NewReadiness("starting")
	health := pipeline.NewHealth(readiness)
	health.Set("startup", "starting: installing the index template, checking the index and creating the dead-letter topic")
	srv, err := ops.Listen(cfg.OpsAddr, reg, readiness, ops.WithPprof(cfg.OpsPprof))
	if err != nil {
		return err
	}
	err = ops.RunWith(ctx, srv.Run, func(ctx context.Context) error {
		return consume(ctx, cfg, log, metrics, health)
	})
	if err == nil {
		log.Info("stopped")
	}
	return err
}

func consume(ctx context.Context, cfg config, log *slog.Logger, metrics *pipeline.Metrics, health *pipeline.Health) error {
	template, _, err := cfg.TemplateConfig.Load()
	if err != nil {
		return settings.Usage(err)
	}
	c, err := consumer.New(consumer.Settings{
		Kafka: cfg.KafkaConfig, Writer: cfg.WriterConfig, Elastic: cfg.ElasticConfig,
		Topic:        cfg.Topic,
		DLQ:          cfg.DLQLayout.Spec(cfg.DLQTopic),
		TemplateName: cfg.TemplateName, Template: template,
		Config: cfg.ConsumerConfig,
	}, pipeline.Options{Log: log, Metrics: metrics, Health: health})
	if err != nil {
		return err
	}
	return c.Run(ctx)
}
