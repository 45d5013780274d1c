package kafka

import (
	"context"
	"fmt"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

// GroupLag returns, per partition of topic, how many messages the group has
// not committed yet: the end offset minus the committed offset (or minus the
// first offset when the group never committed on that partition). It asks
// the brokers, so it sees the commits of every member of the group.
func (a *Admin) GroupLag(ctx context.Context, group, topic string) (map[int]int64, error) {
	meta, err := a.client.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("read metadata: %w", err)
	}
	var parts []int
	for _, t := range meta.Topics {
		if t.Name != topic {
			continue
		}
		if t.Error != nil {
			return nil, fmt.Errorf("read metadata of %s: %w", topic, t.Error)
		}
		for _, p := range t.Partitions {
			parts = append(parts, p.ID)
		}
	}
	if len(parts) == 0 {
		return nil, fmt.Errorf("read metadata of %s: %w", topic, kafkago.UnknownTopicOrPartition)
	}
	reqs := make([]kafkago.OffsetRequest, 0, 2*len(parts))
	for _, p := range parts {
		reqs = append(reqs, kafkago.FirstOffsetOf(p), kafkago.LastOffsetOf(p))
	}
	offs, err := a.client.ListOffsets(ctx, &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, fmt.Errorf("list offsets: %w", err)
	}
	commitOf, err := a.GroupOffsets(ctx, group, topic, parts)
	if err != nil {
		return nil, err
	}
	lag := make(map[int]int64, len(parts))
	for _, p := range offs.Topics[topic] {
		if p.Error != nil {
			return nil, fmt.Errorf("list offsets of partition %d: %w", p.Partition, p.Error)
		}
		c, ok := commitOf[p.Partition]
		if !ok || c < 0 {
			c = p.FirstOffset
		}
		lag[p.Partition] = max(p.LastOffset-c, 0)
	}
	return lag, nil
}

// GroupOffsets returns the group's committed offset for each of the given
// partitions of topic (-1 where it never committed).
func (a *Admin) GroupOffsets(ctx context.Context, group, topic string, parts []int) (map[int]int64, error) {
	resp, err := a.client.OffsetFetch(ctx, &kafkago.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err != nil {
		return nil, fmt.Errorf("fetch committed offsets: %w", err)
	}
	if resp.Error != nil {
		return nil, fmt.Errorf("fetch committed offsets: %w", resp.Error)
	}
	out := map[int]int64{}
	for _, p := range resp.Topics[topic] {
		if p.Error != nil {
			return nil, fmt.Errorf("fetch committed offset of partition %d: %w", p.Partition, p.Error)
		}
		out[p.Partition] = p.CommittedOffset
	}
	return out, nil
}

// NewPartitionReader reads one partition directly, outside any group, with
// no commits: verify and tail read spans of offsets they chose themselves
// (the caller seeks). maxBytes bounds one fetch.
func NewPartitionReader(cfg Config, topic string, partition, maxBytes int) (*kafkago.Reader, error) {
	dialer, err := cfg.Dialer()
	if err != nil {
		return nil, err
	}
	return kafkago.NewReader(kafkago.ReaderConfig{
		Brokers: cfg.Brokers, Topic: topic, Partition: partition, Dialer: dialer,
		MinBytes: 1, MaxBytes: maxBytes, MaxWait: 250 * time.Millisecond,
	}), nil
}

// NewTailReader joins group to follow topic for a person watching it: it
// commits every second (and on Close) what the caller marks, since a human
// tail needs no exactly-once, and a new group starts at the first offset
// when earliest is set, else at the end.
func NewTailReader(cfg Config, topic, group string, earliest bool) (*kafkago.Reader, error) {
	dialer, err := cfg.Dialer()
	if err != nil {
		return nil, err
	}
	start := kafkago.LastOffset
	if earliest {
		start = kafkago.FirstOffset
	}
	return kafkago.NewReader(kafkago.ReaderConfig{
		Brokers: cfg.Brokers, Topic: topic, GroupID: group, Dialer: dialer, StartOffset: start,
		MinBytes: 1, MaxBytes: 4 << 20, MaxWait: 250 * time.Millisecond,
		CommitInterval:    time.Second, // flushed on Close
		HeartbeatInterval: time.Second, SessionTimeout: 10 * time.Second, RebalanceTimeout: 10 * time.Second,
	}), nil
}
