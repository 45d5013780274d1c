package main

// The Kafka part of orderctl setup: the orders and dead-letter topics.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/orderpipe/orderpipe/internal/kafka"
)

// setupTopic creates a topic unless it exists; it waits for Kafka to answer.
func setupTopic(ctx context.Context, admin *kafka.Admin, spec kafka.TopicSpec, stdout io.Writer, log *slog.Logger) error {
	for {
		n, exists, err := admin.TopicPartitions(ctx, spec.Name)
		switch {
		case err == nil && exists:
			fmt.Fprintf(stdout, "topic %s: exists (%d partitions)\n", spec.Name, n)
			if n < spec.Partitions {
				fmt.Fprintf(stdout, "topic %s: WARNING has %d partitions, %d wanted; not changed (adding partitions would move keys)\n", spec.Name, n, spec.Partitions)
			}
			return nil
		case err == nil:
			n, err := admin.EnsureTopic(ctx, spec, log)
			if err != nil {
				return fmt.Errorf("create topic %s: %w", spec.Name, err)
			}
			fmt.Fprintf(stdout, "topic %s: created (%d partitions, replication %d)\n", spec.Name, n, spec.ReplicationFactor)
			return nil
		}
		log.Warn("kafka not ready, retrying", "topic", spec.Name, "error", err.Error())
		select {
		case <-ctx.Done():
			return fmt.Errorf("look up topic %s: %w (last error: %v)", spec.Name, ctx.Err(), err)
		case <-time.After(time.Second):
		}
	}
}
