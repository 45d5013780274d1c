package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/orderpipe/orderpipe/internal/retry"
)

// TopicSpec describes a topic orderpipe creates when it is missing.
type TopicSpec struct {
	Name              string
	Partitions        int
	ReplicationFactor int
}

// EnsureTopic creates the topic unless it exists, and returns its partition
// count. A broker that is not reachable yet is waited for with capped
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
			n, err := ensureTopicOnce(ctx, client, spec)
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

func ensureTopicOnce(ctx context.Context, client *kafkago.Client, spec TopicSpec) (int, error) {
	if n, err := partitionCount(ctx, client, spec.Name); err == nil {
		return n, nil
	} else if !errors.Is(err, kafkago.UnknownTopicOrPartition) {
		return 0, err
	}
	resp, err := client.CreateTopics(ctx, &kafkago.CreateTopicsRequest{Topics: []kafkago.TopicConfig{{
		Topic:             spec.Name,
		NumPartitions:     spec.Partitions,
		ReplicationFactor: spec.ReplicationFactor,
	}}})
	if err != nil {
		return 0, fmt.Errorf("create topic: %w", err)
	}
	if err := resp.Errors[spec.Name]; err != nil && !errors.Is(err, kafkago.TopicAlreadyExists) {
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
	meta, err := client.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return 0, fmt.Errorf("read metadata: %w", err)
	}
	for _, t := range meta.Topics {
		if t.Name != topic {
			continue
		}
		if t.Error != nil {
			return 0, t.Error
		}
		for _, p := range t.Partitions {
			if p.Error != nil {
				return 0, fmt.Errorf("partition %d: %w", p.ID, p.Error)
			}
		}
		return len(t.Partitions), nil
	}
	return 0, kafkago.UnknownTopicOrPartition
}
