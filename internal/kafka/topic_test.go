package kafka

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

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

// describeMinISR is the topic's min.insync.replicas as the broker reports
// it, and whether the topic sets it itself rather than inheriting it.
func describeMinISR(t *testing.T, brokers []string, topic string) (value string, own bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := &kafkago.Client{Addr: kafkago.TCP(brokers...), Timeout: 10 * time.Second}
	resp, err := client.DescribeConfigs(ctx, &kafkago.DescribeConfigsRequest{Resources: []kafkago.DescribeConfigRequestResource{{
		ResourceType: kafkago.ResourceTypeTopic, ResourceName: topic, ConfigNames: []string{"min.insync.replicas"},
	}}})
	if err != nil || len(resp.Resources) != 1 || resp.Resources[0].Error != nil {
		t.Fatalf("describe %s: %v %+v", topic, err, resp)
	}
	for _, e := range resp.Resources[0].ConfigEntries {
		if e.ConfigName == "min.insync.replicas" {
			// ConfigSource 1 is DYNAMIC_TOPIC_CONFIG: set on the topic.
			return e.ConfigValue, e.ConfigSource == 1 && !e.IsDefault
		}
	}
	t.Fatalf("describe %s: no min.insync.replicas in %+v", topic, resp.Resources[0].ConfigEntries)
	return "", false
}

func TestEnsureTopicSetsMinInsyncReplicasOnTheTopic(t *testing.T) {
	brokers := servicetest.KafkaBrokers(t)
	topic := servicetest.Name(t, "minisr")
	t.Cleanup(func() { servicetest.DeleteTopic(t, brokers, topic) })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	spec := TopicSpec{Name: topic, Partitions: 2, ReplicationFactor: 1, MinInsyncReplicas: 1}
	if _, err := mustAdmin(t, Config{Brokers: brokers}).EnsureTopic(ctx, spec, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	// On one broker the value equals the broker's default, so only its
	// source tells that the creation set it.
	if value, own := describeMinISR(t, brokers, topic); value != "1" || !own {
		t.Fatalf("min.insync.replicas = %q (set on the topic: %v), want 1 set on the topic", value, own)
	}
}

func TestEnsureTopicWarnsAboutAnExistingTopicWithLessAndLeavesIt(t *testing.T) {
	brokers := servicetest.KafkaBrokers(t)
	tests := []struct {
		name string
		spec TopicSpec
		want []string // settings warned about
	}{
		{"as asked", TopicSpec{Partitions: 2, ReplicationFactor: 1, MinInsyncReplicas: 1, VariablePrefix: "DLQ_TOPIC"}, nil},
		{"more replicas", TopicSpec{Partitions: 2, ReplicationFactor: 3, MinInsyncReplicas: 2, VariablePrefix: "DLQ_TOPIC"},
			[]string{"replication.factor", "min.insync.replicas"}},
		{"more partitions", TopicSpec{Partitions: 6, ReplicationFactor: 1, VariablePrefix: "KAFKA_TOPIC"}, []string{"partitions"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			topic := servicetest.Name(t, "weaker")
			servicetest.CreateTopic(t, brokers, topic, 2) // one replica, the broker's min.insync.replicas
			tc.spec.Name = topic
			var logged bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			n, err := mustAdmin(t, Config{Brokers: brokers}).EnsureTopic(ctx, tc.spec, slog.New(slog.NewJSONHandler(&logged, nil)))
			if err != nil || n != 2 {
				t.Fatalf("EnsureTopic = %d, %v; want the existing 2 partitions", n, err)
			}
			var warned []string
			for _, line := range strings.Split(strings.TrimSpace(logged.String()), "\n") {
				var rec struct{ Level, Topic, Setting, Variable string }
				if line == "" || json.Unmarshal([]byte(line), &rec) != nil || rec.Level != "WARN" {
					continue
				}
				if rec.Topic != topic || !strings.HasPrefix(rec.Variable, tc.spec.VariablePrefix+"_") {
					t.Errorf("warning %s does not name topic %s and a %s_ variable", line, topic, tc.spec.VariablePrefix)
				}
				warned = append(warned, rec.Setting)
			}
			if !slices.Equal(warned, tc.want) {
				t.Fatalf("warned about %v, want %v; log:\n%s", warned, tc.want, logged.String())
			}
			if _, own := describeMinISR(t, brokers, topic); own {
				t.Error("EnsureTopic set min.insync.replicas on a topic that existed")
			}
		})
	}
}

// Asking for more replicas than there are brokers is retried (brokers may
// still be registering), and each retry names the variable to lower.
func TestEnsureTopicNamesTheReplicationFactorTheBrokersCannotMeet(t *testing.T) {
	brokers := servicetest.KafkaBrokers(t)
	topic := servicetest.Name(t, "replicas")
	t.Cleanup(func() { servicetest.DeleteTopic(t, brokers, topic) })
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	spec := TopicSpec{Name: topic, Partitions: 1, ReplicationFactor: 99, VariablePrefix: "DLQ_TOPIC"}
	if _, err := mustAdmin(t, Config{Brokers: brokers}).EnsureTopic(ctx, spec, log); err == nil {
		t.Fatal("EnsureTopic made a topic with 99 replicas")
	}
	if !strings.Contains(logs.String(), "DLQ_TOPIC_REPLICATION_FACTOR is 99") {
		t.Fatalf("the retries do not name DLQ_TOPIC_REPLICATION_FACTOR:\n%s", logs.String())
	}
}
