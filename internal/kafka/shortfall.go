package kafka

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"

	kafkago "github.com/segmentio/kafka-go"
)

// Shortfall is a way an existing topic has less than its spec asks for.
// orderpipe never alters a topic it did not create, so it can only tell: a
// topic with one replica on a three-broker cluster, made before the layout
// was set, loses its data with its broker however the layout reads now.
type Shortfall struct {
	Topic      string
	Setting    string // Kafka's name: partitions, replication.factor, min.insync.replicas
	Variable   string // the variable that asked for more; "" for a spec built in code
	Have, Want int
	Fix        string // what an operator can do about it
}

func (s Shortfall) String() string {
	asked := ""
	if s.Variable != "" {
		asked = " by " + s.Variable
	}
	return fmt.Sprintf("has %s %d, %d asked%s; not changed (%s)", s.Setting, s.Have, s.Want, asked, s.Fix)
}

// Shortfalls compares the existing topic spec.Name with spec. A setting the
// spec leaves to the broker (MinInsyncReplicas 0) is not compared.
func (a *Admin) Shortfalls(ctx context.Context, spec TopicSpec) ([]Shortfall, error) {
	a.fresh()
	t, err := topicMetadata(ctx, a.client, spec.Name)
	if err != nil {
		return nil, fmt.Errorf("read topic %s: %w", spec.Name, ConnectError(err))
	}
	return shortfalls(ctx, a.client, spec, t)
}

func shortfalls(ctx context.Context, client *kafkago.Client, spec TopicSpec, t kafkago.Topic) ([]Shortfall, error) {
	replicas := 0
	for i, p := range t.Partitions {
		if i == 0 || len(p.Replicas) < replicas {
			replicas = len(p.Replicas)
		}
	}
	var out []Shortfall
	add := func(setting, suffix string, have, want int, fix string) {
		if have >= want {
			return
		}
		s := Shortfall{Topic: spec.Name, Setting: setting, Have: have, Want: want, Fix: fix}
		if spec.VariablePrefix != "" {
			s.Variable = spec.VariablePrefix + suffix
		}
		out = append(out, s)
	}
	add("partitions", partitionsSuffix, len(t.Partitions), spec.Partitions, "adding partitions would move keys")
	add("replication.factor", replicationSuffix, replicas, spec.ReplicationFactor, "kafka-reassign-partitions.sh can add replicas")
	if spec.MinInsyncReplicas > 0 {
		minISR, err := topicMinISR(ctx, client, spec.Name)
		if err != nil {
			return out, err
		}
		add(minISRConfig, minISRSuffix, minISR, spec.MinInsyncReplicas, "kafka-configs.sh --alter --add-config can raise it")
	}
	return out, nil
}

// topicMinISR is the topic's effective min.insync.replicas: its own
// setting, or the broker default it inherits.
func topicMinISR(ctx context.Context, client *kafkago.Client, topic string) (int, error) {
	resp, err := client.DescribeConfigs(ctx, &kafkago.DescribeConfigsRequest{Resources: []kafkago.DescribeConfigRequestResource{{
		ResourceType: kafkago.ResourceTypeTopic, ResourceName: topic, ConfigNames: []string{minISRConfig},
	}}})
	if err != nil {
		return 0, fmt.Errorf("describe configs of %s: %w", topic, err)
	}
	for _, r := range resp.Resources {
		if r.Error != nil {
			return 0, fmt.Errorf("describe configs of %s: %w", topic, r.Error)
		}
		for _, e := range r.ConfigEntries {
			if e.ConfigName == minISRConfig {
				n, err := strconv.Atoi(e.ConfigValue)
				if err != nil {
					return 0, fmt.Errorf("%s of %s: %w", minISRConfig, topic, err)
				}
				return n, nil
			}
		}
	}
	return 0, fmt.Errorf("describe configs of %s: no %s in the answer", topic, minISRConfig)
}

// warnShortfalls logs each way the existing topic falls short of spec. It
// never fails the caller: the topic is usable, and a broker that refuses
// DescribeConfigs to this user must not stop a producer from starting.
func warnShortfalls(ctx context.Context, client *kafkago.Client, spec TopicSpec, t kafkago.Topic, log *slog.Logger) {
	found, err := shortfalls(ctx, client, spec, t)
	for _, s := range found {
		log.Warn("topic has less than asked; not changed", "topic", s.Topic, "setting", s.Setting,
			"have", s.Have, "want", s.Want, "variable", s.Variable, "fix", s.Fix)
	}
	if err != nil {
		log.Warn("topic not compared with its settings", "topic", spec.Name, "error", err.Error())
	}
}
