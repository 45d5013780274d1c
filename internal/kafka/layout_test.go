package kafka

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/orderpipe/orderpipe/internal/settings"
)

// layoutVariables are every variable of both layouts.
var layoutVariables = []string{
	"KAFKA_TOPIC_PARTITIONS", "KAFKA_TOPIC_REPLICATION_FACTOR", "KAFKA_TOPIC_MIN_INSYNC_REPLICAS",
	"DLQ_TOPIC_PARTITIONS", "DLQ_TOPIC_REPLICATION_FACTOR", "DLQ_TOPIC_MIN_INSYNC_REPLICAS",
}

type layouts struct {
	TopicLayout
	DLQLayout
}

// loadLayouts reads both layouts from env alone: every layout variable, old
// names included, is unset first.
func loadLayouts(t *testing.T, env map[string]string) (layouts, error) {
	t.Helper()
	for _, v := range append(slices.Clone(layoutVariables), "KAFKA_TOPIC_REPLICATION", "DLQ_PARTITIONS", "DLQ_REPLICATION_FACTOR") {
		t.Setenv(v, "x") // restores the caller's value afterwards
		os.Unsetenv(v)
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	var l layouts
	return l, settings.Load(&l)
}

// The suffixes the messages use are the names envconfig reads.
func TestLayoutVariableNames(t *testing.T) {
	var names []string
	for _, v := range settings.Variables(&layouts{}) {
		names = append(names, v.Name)
	}
	if !slices.Equal(names, layoutVariables) {
		t.Fatalf("the layouts read %v, want %v", names, layoutVariables)
	}
	for _, prefix := range []string{prefixOf(TopicLayout{}), prefixOf(DLQLayout{})} {
		for _, suffix := range []string{partitionsSuffix, replicationSuffix, minISRSuffix} {
			if !slices.Contains(names, prefix+suffix) {
				t.Errorf("%s%s is not a variable envconfig reads", prefix, suffix)
			}
		}
	}
}

func TestLayoutDefaultsAreASingleBroker(t *testing.T) {
	l, err := loadLayouts(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := TopicSpec{Name: "orders", Partitions: 6, ReplicationFactor: 1, MinInsyncReplicas: 1, VariablePrefix: "KAFKA_TOPIC"}
	if got := l.TopicLayout.Spec("orders"); got != want {
		t.Errorf("orders spec %+v, want %+v", got, want)
	}
	want.Name, want.VariablePrefix = "orders.dlq", "DLQ_TOPIC"
	if got := l.DLQLayout.Spec("orders.dlq"); got != want {
		t.Errorf("dead-letter spec %+v, want %+v", got, want)
	}
}

func TestLayoutsReadTheirOwnVariables(t *testing.T) {
	l, err := loadLayouts(t, map[string]string{
		"KAFKA_TOPIC_PARTITIONS": "12", "KAFKA_TOPIC_REPLICATION_FACTOR": "3", "KAFKA_TOPIC_MIN_INSYNC_REPLICAS": "2",
		"DLQ_TOPIC_PARTITIONS": "2", "DLQ_TOPIC_REPLICATION_FACTOR": "3", "DLQ_TOPIC_MIN_INSYNC_REPLICAS": "3",
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := l.Orders, (Layout{12, 3, 2}); got != want {
		t.Errorf("orders layout %+v, want %+v", got, want)
	}
	if got, want := l.DLQ, (Layout{2, 3, 3}); got != want {
		t.Errorf("dead-letter layout %+v, want %+v", got, want)
	}
}

func TestLayoutSettingsNameTheVariable(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		variable string // "" = valid
		says     string
	}{
		{"defaults", nil, "", ""},
		{"a cluster", map[string]string{"KAFKA_TOPIC_REPLICATION_FACTOR": "3", "KAFKA_TOPIC_MIN_INSYNC_REPLICAS": "2"}, "", ""},
		{"min ISR equal to RF", map[string]string{"DLQ_TOPIC_REPLICATION_FACTOR": "2", "DLQ_TOPIC_MIN_INSYNC_REPLICAS": "2"}, "", ""},
		{"orders without partitions", map[string]string{"KAFKA_TOPIC_PARTITIONS": "0"}, "KAFKA_TOPIC_PARTITIONS", "at least 1"},
		{"orders without replicas", map[string]string{"KAFKA_TOPIC_REPLICATION_FACTOR": "0"}, "KAFKA_TOPIC_REPLICATION_FACTOR", "at least 1"},
		{"orders min ISR 0", map[string]string{"KAFKA_TOPIC_MIN_INSYNC_REPLICAS": "0"}, "KAFKA_TOPIC_MIN_INSYNC_REPLICAS", "at least 1"},
		{"orders min ISR above RF", map[string]string{"KAFKA_TOPIC_MIN_INSYNC_REPLICAS": "2"}, "KAFKA_TOPIC_MIN_INSYNC_REPLICAS", "KAFKA_TOPIC_REPLICATION_FACTOR (1)"},
		{"dlq without partitions", map[string]string{"DLQ_TOPIC_PARTITIONS": "-1"}, "DLQ_TOPIC_PARTITIONS", "at least 1"},
		{"dlq without replicas", map[string]string{"DLQ_TOPIC_REPLICATION_FACTOR": "0"}, "DLQ_TOPIC_REPLICATION_FACTOR", "at least 1"},
		{"dlq min ISR above RF", map[string]string{"DLQ_TOPIC_REPLICATION_FACTOR": "2", "DLQ_TOPIC_MIN_INSYNC_REPLICAS": "3"}, "DLQ_TOPIC_MIN_INSYNC_REPLICAS", "DLQ_TOPIC_REPLICATION_FACTOR (2)"},
		{"not a number", map[string]string{"DLQ_TOPIC_MIN_INSYNC_REPLICAS": "two"}, "DLQ_TOPIC_MIN_INSYNC_REPLICAS", "cannot use"},
		// The names of earlier releases are refused, naming the new one.
		{"old orders replication", map[string]string{"KAFKA_TOPIC_REPLICATION": "3"}, "KAFKA_TOPIC_REPLICATION", "renamed KAFKA_TOPIC_REPLICATION_FACTOR"},
		{"old dlq partitions", map[string]string{"DLQ_PARTITIONS": "2"}, "DLQ_PARTITIONS", "renamed DLQ_TOPIC_PARTITIONS"},
		{"old dlq replication", map[string]string{"DLQ_REPLICATION_FACTOR": "3"}, "DLQ_REPLICATION_FACTOR", "renamed DLQ_TOPIC_REPLICATION_FACTOR"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := loadLayouts(t, tc.env)
			if err == nil {
				err = l.TopicLayout.Validate()
			}
			if err == nil {
				err = l.DLQLayout.Validate()
			}
			switch {
			case tc.variable == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tc.variable != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.variable+": ") || !strings.Contains(err.Error(), tc.says)):
				t.Fatalf("error %v, want one naming %s and saying %q", err, tc.variable, tc.says)
			}
			var se *settings.Error
			if tc.variable != "" && tc.says != "cannot use" && !errors.As(err, &se) {
				t.Errorf("error %v is not a *settings.Error", err)
			}
		})
	}
}

func TestShortfallsOfPartitionsAndReplicas(t *testing.T) {
	topic := func(partitions, replicas int) kafkago.Topic {
		tp := kafkago.Topic{Name: "t"}
		for i := range partitions {
			tp.Partitions = append(tp.Partitions, kafkago.Partition{ID: i, Replicas: make([]kafkago.Broker, replicas)})
		}
		return tp
	}
	spec := TopicSpec{Name: "t", Partitions: 6, ReplicationFactor: 3, VariablePrefix: "KAFKA_TOPIC"}
	tests := []struct {
		name  string
		topic kafkago.Topic
		spec  TopicSpec
		want  []string
	}{
		{"as asked", topic(6, 3), spec, nil},
		{"more than asked", topic(12, 3), spec, nil},
		{"fewer partitions", topic(3, 3), spec, []string{"has partitions 3, 6 asked by KAFKA_TOPIC_PARTITIONS; not changed (adding partitions would move keys)"}},
		{"one replica", topic(6, 1), spec, []string{"has replication.factor 1, 3 asked by KAFKA_TOPIC_REPLICATION_FACTOR"}},
		{"one partition under-replicated", func() kafkago.Topic {
			tp := topic(6, 3)
			tp.Partitions[4].Replicas = tp.Partitions[4].Replicas[:2]
			return tp
		}(),
			spec, []string{"has replication.factor 2, 3 asked"}},
		{"spec built in code", topic(1, 1), TopicSpec{Name: "t", Partitions: 2, ReplicationFactor: 1}, []string{"has partitions 1, 2 asked; not changed"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// MinInsyncReplicas is 0: no request, so no client.
			got, err := shortfalls(t.Context(), nil, tc.spec, tc.topic)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("shortfalls %v, want %d", got, len(tc.want))
			}
			for i, s := range got {
				if !strings.HasPrefix(s.String(), tc.want[i]) {
					t.Errorf("shortfall %q, want it to start %q", s, tc.want[i])
				}
			}
		})
	}
}
