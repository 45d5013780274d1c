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

	"github.com/orderpipe/orderpipe/deploy"
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
	KafkaConfig   = kafka.Config
	WriterConfig  = kafka.WriterConfig
	ElasticConfig = elastic.Config
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
	ops.DaemonConfig
	OpsConfig

	Group            string        `envconfig:"CONSUMER_GROUP" default:"orderpipe-consumer" desc:"consumer group; consumers in one group share the partitions"`
	SessionTimeout   time.Duration `envconfig:"KAFKA_SESSION_TIMEOUT" default:"10s" desc:"how long the group waits for a silent member before moving its partitions (6s to 5m)"`
	BulkSize         int           `envconfig:"BULK_SIZE" default:"2000" desc:"most messages in one _bulk request"`
	BulkBytes        int           `envconfig:"BULK_BYTES" default:"5242880" desc:"most message bytes in one _bulk request"`
	FlushInterval    time.Duration `envconfig:"FLUSH_INTERVAL" default:"5ms" desc:"linger: longest a batch that is not full waits for more messages before it is sent"`
	BulkWorkers      int           `envconfig:"BULK_WORKERS" default:"3" desc:"_bulk requests kept in flight at once"`
	RetryMaxInterval time.Duration `envconfig:"RETRY_MAX_INTERVAL" default:"10s" desc:"longest wait between retries while Elasticsearch is overloaded or down"`
	LagInterval      time.Duration `envconfig:"LAG_INTERVAL" default:"5s" desc:"how often consumer lag is read from the brokers"`
}

// OpsConfig is the ops listener's settings, a struct of its own so that
// `consumer healthcheck` reads OPS_ADDR, default included, exactly as the
// daemon it probes does.
type OpsConfig struct {
	OpsAddr  string `envconfig:"OPS_ADDR" default:"127.0.0.1:9101" desc:"listen address for /metrics, /healthz and /readyz"`
	OpsPprof bool   `envconfig:"OPS_PPROF" default:"false" desc:"serve /debug/pprof on the ops listener (local profiling only)"`
}

func configError(variable, reason string) error {
	return &settings.Error{Variable: variable, Reason: reason}
}

func (c *config) validate() error {
	for _, v := range []func() error{c.KafkaConfig.Validate, c.WriterConfig.Validate, c.ElasticConfig.Validate,
		c.TopicConfig.Validate, func() error { return c.DLQConfig.Validate(c.TopicConfig) }, c.DLQLayout.Validate, c.TemplateConfig.Validate, c.DaemonConfig.Validate} {
		if err := v(); err != nil {
			return err
		}
	}
	switch {
	case c.Group == "":
		return configError("CONSUMER_GROUP", "is empty")
	case c.SessionTimeout < 6*time.Second || c.SessionTimeout > 5*time.Minute:
		return configError("KAFKA_SESSION_TIMEOUT", fmt.Sprintf("%v is outside [6s, 5m] (the broker's default group session bounds)", c.SessionTimeout))
	case c.BulkSize < 1 || c.BulkSize > 100_000:
		return configError("BULK_SIZE", fmt.Sprintf("%d is outside [1, 100000]", c.BulkSize))
	case c.BulkBytes < 1024:
		return configError("BULK_BYTES", "must be at least 1024")
	case c.FlushInterval <= 0:
		return configError("FLUSH_INTERVAL", "must be positive")
	case c.BulkWorkers < 1 || c.BulkWorkers > 64:
		return configError("BULK_WORKERS", fmt.Sprintf("%d is outside [1, 64]", c.BulkWorkers))
	case c.RetryMaxInterval < 100*time.Millisecond:
		return configError("RETRY_MAX_INTERVAL", "must be at least 100ms")
	case c.OpsAddr == "":
		return configError("OPS_ADDR", "is empty")
	case c.LagInterval <= 0:
		return configError("LAG_INTERVAL", "must be positive")
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
	health.Set("startup", "starting: installing the index template and the dead-letter topic")
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
	template := deploy.OrdersTemplate
	if cfg.TemplateFile != "" {
		var err error
		if template, err = os.ReadFile(cfg.TemplateFile); err != nil {
			return fmt.Errorf("read ES_TEMPLATE_FILE: %w", err)
		}
	}
	// Most of the shutdown budget goes to the batch in flight; the rest
	// to the final commit and leaving the group.
	drain := cfg.ShutdownTimeout * 2 / 3
	c, err := consumer.New(consumer.Settings{
		Kafka: cfg.KafkaConfig, Writer: cfg.WriterConfig, Elastic: cfg.ElasticConfig,
		Topic: cfg.Topic, Group: cfg.Group,
		DLQ:          kafka.TopicSpec{Name: cfg.DLQTopic, Partitions: cfg.DLQPartitions, ReplicationFactor: cfg.DLQReplicationFactor},
		TemplateName: cfg.TemplateName, Template: template,
		SessionTimeout: cfg.SessionTimeout, QueueCapacity: cfg.BulkSize,
		Pipeline: pipeline.Config{
			BulkSize: cfg.BulkSize, BulkBytes: cfg.BulkBytes, FlushInterval: cfg.FlushInterval, Workers: cfg.BulkWorkers,
			DrainTimeout: drain, CommitTimeout: (cfg.ShutdownTimeout - drain) / 2,
			RetryMax: cfg.RetryMaxInterval, ProgressInterval: cfg.ProgressInterval,
		},
		CloseTimeout: (cfg.ShutdownTimeout - drain) / 2,
		LagInterval:  cfg.LagInterval,
	}, pipeline.Options{Log: log, Metrics: metrics, Health: health})
	if err != nil {
		return err
	}
	return c.Run(ctx)
}
