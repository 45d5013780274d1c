package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/orderpipe/orderpipe/internal/retry"
)

// TopicSpec describes a topic orderpipe creates when it is missing.
type TopicSpec struct {
	Name              string
	Partitions        int
	ReplicationFactor int
	// MinInsyncReplicas is set as the topic's min.insync.replicas; 0 leaves
	// the broker's default (specs built in code, by tests and benchmarks).
	MinInsyncReplicas int
	// VariablePrefix is the prefix of the variables the spec was read from
	// (KAFKA_TOPIC, DLQ_TOPIC), so that a warning names what to change;
	// empty for specs built in code.
	VariablePrefix string
}

// configEntries are the topic configs the spec sets at creation.
func (s TopicSpec) configEntries() []kafkago.ConfigEntry {
	if s.MinInsyncReplicas <= 0 {
		return nil
	}
	return []kafkago.ConfigEntry{{ConfigName: minISRConfig, ConfigValue: strconv.Itoa(s.MinInsyncReplicas)}}
}

const minISRConfig = "min.insync.replicas"

// EnsureTopic creates the topic unless it exists, and returns its partition
// count. An existing topic is left as it is; each way it has less than spec
// asks (Shortfalls) is logged as a warning. A broker that is not reachable yet is waited for with capped
// exponential backoff, each retry logged, until ctx ends: in a freshly started
// stack the producer regularly comes up before Kafka does, and crash-looping
// there would only hide the reason. Refused credentials or an untrusted
// certificate end the wait at once, explained by ConnectError: the broker
// answered, and waiting fixes neither.
func (a *Admin) EnsureTopic(ctx context.Context, spec TopicSpec, log *slog.Logger) (partitions int, err error) {
	a.fresh()
	client := a.client
	partitions, err = retry.Do(ctx, retry.Backoff{Initial: 250 * time.Millisecond, Max: 10 * time.Second},
		func() (int, error) {
			n, err := ensureTopicOnce(ctx, client, spec, log)
			return n, stopIfMisconfigured(err)
		},
		func(attempt int, err error, wait time.Duration) {
			log.Warn("kafka not ready, retrying", "topic", spec.Name, "brokers", a.cfg.Brokers,
				"attempt", attempt, "retry_in", wait.String(), "error", err.Error())
		})
	if err != nil {
		return 0, fmt.Errorf("ensure topic %s: %w", spec.Name, err)
	}
	return partitions, nil
}

func ensureTopicOnce(ctx context.Context, client *kafkago.Client, spec TopicSpec, log *slog.Logger) (int, error) {
	if t, err := topicMetadata(ctx, client, spec.Name); err == nil {
		warnShortfalls(ctx, client, spec, t, log)
		return len(t.Partitions), nil
	} else if !errors.Is(err, kafkago.UnknownTopicOrPartition) {
		return 0, err
	}
	resp, err := client.CreateTopics(ctx, &kafkago.CreateTopicsRequest{Topics: []kafkago.TopicConfig{{
		Topic:             spec.Name,
		NumPartitions:     spec.Partitions,
		ReplicationFactor: spec.ReplicationFactor,
		ConfigEntries:     spec.configEntries(),
	}}})
	if err != nil {
		return 0, fmt.Errorf("create topic: %w", err)
	}
	if err := resp.Errors[spec.Name]; err != nil && !errors.Is(err, kafkago.TopicAlreadyExists) {
		if errors.Is(err, kafkago.InvalidReplicationFactor) {
			// Retried: brokers may still be registering. But the log
			// must say what to change if they never will.
			setting := "the replication factor"
			if spec.VariablePrefix != "" {
				setting = spec.VariablePrefix + "_REPLICATION_FACTOR"
			}
			return 0, fmt.Errorf("create topic: %w: %s is %d, more than the brokers that are up (lower it, or start more brokers)",
				err, setting, spec.ReplicationFactor)
		}
		return 0, fmt.Errorf("create topic: %w", err)
	}
	// Metadata may lag a moment behind the creation; wait until every
	// partition has a leader so the first write does not fail.
	for {
		n, err := partitionCount(ctx, client, spec.Name)
		if err == nil && n >= spec.Partitions {
			return n, nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// partitionCount returns how many partitions the topic has, all with leaders.
func partitionCount(ctx context.Context, client *kafkago.Client, topic string) (int, error) {
	t, err := topicMetadata(ctx, client, topic)
	if err != nil {
		return 0, err
	}
	return len(t.Partitions), nil
}

// topicMetadata returns the topic's metadata once every partition has a
// leader.
func topicMetadata(ctx context.Context, client *kafkago.Client, topic string) (kafkago.Topic, error) {
	meta, err := client.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return kafkago.Topic{}, fmt.Errorf("read metadata: %w", err)
	}
	for _, t := range meta.Topics {
		if t.Name != topic {
			continue
		}
		if t.Error != nil {
			return kafkago.Topic{}, t.Error
		}
		for _, p := range t.Partitions {
			if p.Error != nil {
				return kafkago.Topic{}, fmt.Errorf("partition %d: %w", p.ID, p.Error)
			}
		}
		return t, nil
	}
	return kafkago.Topic{}, kafkago.UnknownTopicOrPartition
}
