package main

// The Kafka part of orderctl setup: the orders and dead-letter topics.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/orderpipe/orderpipe/internal/kafka"
	"github.com/orderpipe/orderpipe/internal/retry"
)

// setupTopic creates a topic unless it exists; the look-up waits for Kafka
// to answer (about once a second, each attempt logged), and EnsureTopic
// waits on its own for a creation to succeed.
func setupTopic(ctx context.Context, admin *kafka.Admin, spec kafka.TopicSpec, stdout io.Writer, log *slog.Logger) error {
	type state struct {
		partitions int
		exists     bool
	}
	st, err := retry.Do(ctx, retry.Backoff{Initial: time.Second, Max: time.Second}, func() (state, error) {
		n, exists, err := admin.TopicPartitions(ctx, spec.Name)
		return state{n, exists}, err
	}, func(attempt int, err error, wait time.Duration) {
		log.Warn("kafka not ready, retrying", "topic", spec.Name, "attempt", attempt, "error", err.Error())
	})
	if err != nil {
		return fmt.Errorf("look up topic %s: %w", spec.Name, err)
	}
	if st.exists {
		fmt.Fprintf(stdout, "topic %s: exists (%d partitions)\n", spec.Name, st.partitions)
		// A topic made before the layout was set (one replica on what is
		// now a cluster) must be pointed out: setup never changes it.
		found, err := admin.Shortfalls(ctx, spec)
		for _, s := range found {
			fmt.Fprintf(stdout, "topic %s: WARNING %s\n", spec.Name, s)
		}
		if err != nil {
			fmt.Fprintf(stdout, "topic %s: WARNING not compared with its settings: %v\n", spec.Name, err)
		}
		return nil
	}
	n, err := admin.EnsureTopic(ctx, spec, log)
	if err != nil {
		return fmt.Errorf("create topic %s: %w", spec.Name, err)
	}
	fmt.Fprintf(stdout, "topic %s: created (%d partitions, replication %d, min.insync.replicas %d)\n",
		spec.Name, n, spec.ReplicationFactor, spec.MinInsyncReplicas)
	return nil
}
