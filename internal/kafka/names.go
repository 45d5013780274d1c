package kafka

import "github.com/orderpipe/orderpipe/internal/settings"

// TopicConfig names the orders topic. Every program that writes or reads it
// embeds this struct, so KAFKA_TOPIC and its default are declared once and a
// producer and a consumer started with no settings meet on the same topic.
type TopicConfig struct {
	Topic string `envconfig:"KAFKA_TOPIC" default:"orders" desc:"topic of the orders: the producer writes it, the consumer and orderctl read it"`
}

// Validate checks what envconfig cannot: an empty name set explicitly.
func (c TopicConfig) Validate() error {
	if c.Topic == "" {
		return &settings.Error{Variable: "KAFKA_TOPIC", Reason: "must not be empty"}
	}
	return nil
}

// DLQConfig names the dead-letter topic, for the same reason as TopicConfig:
// the consumer writes it, orderctl creates and reads it.
type DLQConfig struct {
	DLQTopic string `envconfig:"DLQ_TOPIC" default:"orders.dlq" desc:"dead-letter topic for the messages the consumer cannot index"`
}

// Validate checks the name, and that it is not the orders topic itself:
// dead letters written there would be consumed, fail and be written again.
func (c DLQConfig) Validate(orders TopicConfig) error {
	switch c.DLQTopic {
	case "":
		return &settings.Error{Variable: "DLQ_TOPIC", Reason: "must not be empty"}
	case orders.Topic:
		return &settings.Error{Variable: "DLQ_TOPIC", Reason: "must differ from KAFKA_TOPIC"}
	}
	return nil
}

// TopicLayout is how the orders topic is created when it is missing. Both the
// producer and orderctl setup may create it, so they read one declaration and
// cannot create it with different partition counts by default.
type TopicLayout struct {
	TopicPartitions  int `envconfig:"KAFKA_TOPIC_PARTITIONS" default:"6" desc:"partitions of the orders topic when it is created"`
	TopicReplication int `envconfig:"KAFKA_TOPIC_REPLICATION" default:"1" desc:"replication factor of the orders topic when it is created"`
}

// Validate checks what envconfig cannot.
func (l TopicLayout) Validate() error {
	return validateLayout("KAFKA_TOPIC_PARTITIONS", l.TopicPartitions, "KAFKA_TOPIC_REPLICATION", l.TopicReplication)
}

// Spec is the topic named name laid out as l says.
func (l TopicLayout) Spec(name string) TopicSpec {
	return TopicSpec{Name: name, Partitions: l.TopicPartitions, ReplicationFactor: l.TopicReplication}
}

// DLQLayout is how the dead-letter topic is created when it is missing, by
// the consumer or orderctl setup, for the same reason as TopicLayout.
type DLQLayout struct {
	DLQPartitions        int `envconfig:"DLQ_PARTITIONS" default:"6" desc:"partitions of the dead-letter topic when it is created"`
	DLQReplicationFactor int `envconfig:"DLQ_REPLICATION_FACTOR" default:"1" desc:"replication factor of the dead-letter topic when it is created"`
}

// Validate checks what envconfig cannot.
func (l DLQLayout) Validate() error {
	return validateLayout("DLQ_PARTITIONS", l.DLQPartitions, "DLQ_REPLICATION_FACTOR", l.DLQReplicationFactor)
}

// Spec is the topic named name laid out as l says.
func (l DLQLayout) Spec(name string) TopicSpec {
	return TopicSpec{Name: name, Partitions: l.DLQPartitions, ReplicationFactor: l.DLQReplicationFactor}
}

func validateLayout(partitionsVar string, partitions int, replicationVar string, replication int) error {
	switch {
	case partitions < 1:
		return &settings.Error{Variable: partitionsVar, Reason: "must be at least 1"}
	case replication < 1:
		return &settings.Error{Variable: replicationVar, Reason: "must be at least 1"}
	}
	return nil
}
