package consumer

import (
	"fmt"
	"time"

	"github.com/orderpipe/orderpipe/internal/kafka"
	"github.com/orderpipe/orderpipe/internal/ops"
	"github.com/orderpipe/orderpipe/internal/pipeline"
	"github.com/orderpipe/orderpipe/internal/settings"
)

// Config is the consumer's own settings, besides its connections and
// topics: cmd/consumer embeds it in what it reads from the environment, and
// the tests start from its defaults (settings.Defaults), so the default
// tags here are the one home of the consumer's defaults and this file the
// one place they become the pipeline's and the reader's configuration.
type Config struct {
	kafka.GroupConfig
	SessionTimeout   time.Duration `envconfig:"KAFKA_SESSION_TIMEOUT" default:"10s" desc:"how long the group waits for a silent member before moving its partitions (6s to 5m)"`
	BulkSize         int           `envconfig:"BULK_SIZE" default:"2000" desc:"most messages in one _bulk request"`
	BulkBytes        int           `envconfig:"BULK_BYTES" default:"5242880" desc:"most message bytes in one _bulk request"`
	FlushInterval    time.Duration `envconfig:"FLUSH_INTERVAL" default:"5ms" desc:"linger: longest a batch that is not full waits for more messages, from its first one, before it is sent (under load, batches fill while the workers are busy)"`
	BulkWorkers      int           `envconfig:"BULK_WORKERS" default:"3" desc:"_bulk requests kept in flight at once; batches finish in any order and each partition is committed up to its first unhandled message"`
	RetryMaxInterval time.Duration `envconfig:"RETRY_MAX_INTERVAL" default:"10s" desc:"longest wait between retries while Elasticsearch is overloaded or down"`
	MaxUncommitted   int           `envconfig:"MAX_UNCOMMITTED" default:"50000" desc:"most messages of one partition fetched and not yet committable (waiting behind one not handled); at the bound that partition is paused until half are done, the others go on, and /readyz names the partition; at least (BULK_WORKERS + 1) × BULK_SIZE"`
	ops.DaemonConfig
	LagInterval time.Duration `envconfig:"LAG_INTERVAL" default:"5s" desc:"how often consumer lag is read from the brokers"`
}

// RetiredVariables names KAFKA_ACKS: the consumer writes dead letters with
// acks=all whatever it says (kafka.NewDeadLetterWriter), so it refuses any
// other value rather than appear to honour it.
func (Config) RetiredVariables() []settings.Retired {
	return []settings.Retired{{Name: "KAFKA_ACKS", Accepts: []string{"all", "-1"},
		Why: "the consumer always writes dead letters with acks=all, since it commits a dead-lettered message's offset once Kafka acknowledged the dead letter, and a weaker acknowledgement could lose it"}}
}

// Validate reports the first setting the consumer cannot run with, naming
// its variable.
func (c Config) Validate() error {
	if err := c.DaemonConfig.Validate(); err != nil {
		return err
	}
	bad := func(variable, format string, args ...any) error {
		return &settings.Error{Variable: variable, Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case c.Group == "":
		return bad("CONSUMER_GROUP", "is empty")
	case c.SessionTimeout < 6*time.Second || c.SessionTimeout > 5*time.Minute:
		return bad("KAFKA_SESSION_TIMEOUT", "%v is outside [6s, 5m] (the broker's default group session bounds)", c.SessionTimeout)
	case c.BulkSize < 1 || c.BulkSize > 100_000:
		return bad("BULK_SIZE", "%d is outside [1, 100000]", c.BulkSize)
	case c.BulkBytes < 1024:
		return bad("BULK_BYTES", "must be at least 1024")
	case c.FlushInterval <= 0:
		return bad("FLUSH_INTERVAL", "must be positive")
	case c.BulkWorkers < 1 || c.BulkWorkers > 64:
		return bad("BULK_WORKERS", "%d is outside [1, 64]", c.BulkWorkers)
	case c.RetryMaxInterval < 100*time.Millisecond:
		return bad("RETRY_MAX_INTERVAL", "must be at least 100ms")
	case c.MaxUncommitted < (c.BulkWorkers+1)*c.BulkSize:
		return bad("MAX_UNCOMMITTED", "%d is below (BULK_WORKERS + 1) × BULK_SIZE (%d): a partition would be held back by its own batches in flight", c.MaxUncommitted, (c.BulkWorkers+1)*c.BulkSize)
	case c.LagInterval <= 0:
		return bad("LAG_INTERVAL", "must be positive")
	}
	return nil
}

// Tuning that is not a setting: nothing a user would tune depends on it
// that the settings above do not already cover.
const (
	// commitInterval lets a stream of small batches cost the group
	// coordinator a few commits a second, not one per batch.
	commitInterval = 100 * time.Millisecond
	// retryInitial is the first pause of a retry; RETRY_MAX_INTERVAL caps
	// the ones after it.
	retryInitial = 200 * time.Millisecond
)

// pipelineConfig is the pipeline's configuration. Most of the shutdown
// budget goes to the batches in flight; the rest is split between the
// final commit and leaving the group (closeTimeout).
func (c Config) pipelineConfig() pipeline.Config {
	drain := c.drainTimeout()
	return pipeline.Config{
		BulkSize: c.BulkSize, BulkBytes: c.BulkBytes, FlushInterval: c.FlushInterval, Workers: c.BulkWorkers,
		DrainTimeout: drain, CommitTimeout: (c.ShutdownTimeout - drain) / 2, CommitInterval: commitInterval,
		RetryInitial: retryInitial, RetryMax: c.RetryMaxInterval, ProgressInterval: c.ProgressInterval,
		MaxUncommitted: c.MaxUncommitted,
	}
}

func (c Config) drainTimeout() time.Duration { return c.ShutdownTimeout * 2 / 3 }

// closeTimeout bounds leaving the group and closing the dead-letter writer
// after the pipeline stopped: the half of the shutdown budget left after
// the drain that the final commit does not take.
func (c Config) closeTimeout() time.Duration { return (c.ShutdownTimeout - c.drainTimeout()) / 2 }

// memberConfig is the group member's configuration; it reads ahead about
// one batch of messages, split between the prefetches of its partitions.
func (c Config) memberConfig(topic string) kafka.GroupMemberConfig {
	return kafka.GroupMemberConfig{Topic: topic, GroupID: c.Group, SessionTimeout: c.SessionTimeout, QueueCapacity: c.BulkSize}
}
