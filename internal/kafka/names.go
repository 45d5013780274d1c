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

// GroupConfig names the consumers' group: the consumer joins it, orderctl
// dashboard reads its lag.
type GroupConfig struct {
	Group string `envconfig:"CONSUMER_GROUP" default:"orderpipe-consumer" desc:"consumer group; consumers in one group share the partitions"`
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
