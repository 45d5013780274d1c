package kafka

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/internal/servicetest"
)

func TestEnsureTopicCreatesOnceAndThenReportsTheExistingTopic(t *testing.T) {
	brokers := servicetest.KafkaBrokers(t)
	topic := servicetest.Name(t, "ensure")
	t.Cleanup(func() { servicetest.DeleteTopic(t, brokers, topic) })
	cfg := Config{Brokers: brokers}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i, want := range []int{4, 4} {
		// The second call asks for 8 but must keep the existing 4 partitions.
		n, err := mustAdmin(t, cfg).EnsureTopic(ctx, TopicSpec{Name: topic, Partitions: 4 + 4*i, ReplicationFactor: 1}, log)
		if err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
		if n != want {
			t.Fatalf("call %d: %d partitions, want %d", i+1, n, want)
		}
	}
}

func TestEnsureTopicGivesUpWhenTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 800*time.Millisecond)
	defer cancel()
	_, err := mustAdmin(t, Config{Brokers: []string{"127.0.0.1:1"}}).EnsureTopic(ctx, TopicSpec{Name: "x", Partitions: 1, ReplicationFactor: 1},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || ctx.Err() == nil {
		t.Fatalf("EnsureTopic against a closed port returned %v before its context ended", err)
	}
}
