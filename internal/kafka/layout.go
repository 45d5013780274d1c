package kafka

import (
	"fmt"
	"reflect"

	"github.com/orderpipe/orderpipe/internal/settings"
)

// Layout is how a topic is created when it is missing. One struct serves the
// orders and the dead-letter topic, read under a prefix each (TopicLayout,
// DLQLayout), so that both topics have the same settings under parallel
// names and one set of rules.
//
// The fields are named by split_words, not by an envconfig tag: envconfig
// falls back to a tagged field's bare name when the prefixed one is unset,
// and a stray PARTITIONS in someone's shell must not lay out the topics.
type Layout struct {
	Partitions        int `split_words:"true" default:"6" desc:"partitions of the topic when it is created (an existing topic is not changed)"`
	ReplicationFactor int `split_words:"true" default:"1" desc:"replicas of each partition when the topic is created; at most the number of brokers"`
	MinInsyncReplicas int `split_words:"true" default:"1" desc:"min.insync.replicas of the topic when it is created: replicas that must have a write before acks=all succeeds (1..replication factor)"`
}

// The names envconfig derives from Layout's fields, after the prefix.
// TestLayoutVariableNames holds them to what envconfig reads.
const (
	partitionsSuffix  = "_PARTITIONS"
	replicationSuffix = "_REPLICATION_FACTOR"
	minISRSuffix      = "_MIN_INSYNC_REPLICAS"
)

func (l Layout) validate(prefix string) error {
	switch {
	case l.Partitions < 1:
		return &settings.Error{Variable: prefix + partitionsSuffix, Reason: "must be at least 1"}
	case l.ReplicationFactor < 1:
		return &settings.Error{Variable: prefix + replicationSuffix, Reason: "must be at least 1"}
	case l.MinInsyncReplicas < 1:
		return &settings.Error{Variable: prefix + minISRSuffix, Reason: "must be at least 1"}
	case l.MinInsyncReplicas > l.ReplicationFactor:
		return &settings.Error{Variable: prefix + minISRSuffix, Reason: fmt.Sprintf(
			"%d is more than %s%s (%d): no write could ever succeed", l.MinInsyncReplicas, prefix, replicationSuffix, l.ReplicationFactor)}
	}
	return nil
}

func (l Layout) spec(name, prefix string) TopicSpec {
	return TopicSpec{Name: name, Partitions: l.Partitions, ReplicationFactor: l.ReplicationFactor,
		MinInsyncReplicas: l.MinInsyncReplicas, VariablePrefix: prefix}
}

// TopicLayout is how the orders topic is created when it is missing. Both
// the producer and orderctl setup may create it, so they read one
// declaration and cannot create it differently by default.
type TopicLayout struct {
	Orders Layout `envconfig:"KAFKA_TOPIC"`
}

// Validate checks what envconfig cannot.
func (l TopicLayout) Validate() error { return l.Orders.validate(prefixOf(l)) }

// Spec is the topic named name laid out as l says.
func (l TopicLayout) Spec(name string) TopicSpec { return l.Orders.spec(name, prefixOf(l)) }

// RenamedVariables are the names of releases before the two layouts
// were one struct; settings.Load refuses them.
func (TopicLayout) RenamedVariables() map[string]string {
	return map[string]string{"KAFKA_TOPIC_REPLICATION": "KAFKA_TOPIC_REPLICATION_FACTOR"}
}

// DLQLayout is how the dead-letter topic is created when it is missing, by
// the consumer or orderctl setup, for the same reason as TopicLayout.
type DLQLayout struct {
	DLQ Layout `envconfig:"DLQ_TOPIC"`
}

// Validate checks what envconfig cannot.
func (l DLQLayout) Validate() error { return l.DLQ.validate(prefixOf(l)) }

// Spec is the topic named name laid out as l says.
func (l DLQLayout) Spec(name string) TopicSpec { return l.DLQ.spec(name, prefixOf(l)) }

// RenamedVariables names the DLQ layout's old variables and their
// replacements, as TopicLayout's does for the orders topic.
func (DLQLayout) RenamedVariables() map[string]string {
	return map[string]string{"DLQ_PARTITIONS": "DLQ_TOPIC_PARTITIONS", "DLQ_REPLICATION_FACTOR": "DLQ_TOPIC_REPLICATION_FACTOR"}
}

// prefixOf reads the prefix of a layout wrapper from its field's tag, so
// that the name a layout is read under is written once.
func prefixOf(wrapper any) string {
	return reflect.TypeOf(wrapper).Field(0).Tag.Get("envconfig")
}
