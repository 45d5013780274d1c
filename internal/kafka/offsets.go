package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

// PartitionRange is the span of offsets a partition holds: First is the
// oldest offset still retained, End the next offset to be written (the high
// watermark). The partition is empty when First == End.
type PartitionRange struct {
	Partition int
	First     int64
	End       int64
}

// Len is how many offsets the range spans.
func (r PartitionRange) Len() int64 { return r.End - r.First }

// TopicPartitions returns how many partitions topic has, and false when the
// topic does not exist. Unlike EnsureTopic it neither waits nor creates.
func (a *Admin) TopicPartitions(ctx context.Context, topic string) (partitions int, exists bool, err error) {
	a.fresh()
	n, err := partitionCount(ctx, a.client, topic)
	if errors.Is(err, kafkago.UnknownTopicOrPartition) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, ConnectError(err)
	}
	return n, true, nil
}

// Offsets returns every partition's first and end offsets, sorted by
// partition. Capturing them once lets a reader stop at a fixed point of a
// topic that is still being written.
func (a *Admin) Offsets(ctx context.Context, topic string) ([]PartitionRange, error) {
	a.fresh()
	client := a.client
	n, err := partitionCount(ctx, client, topic)
	if err != nil {
		// The first request of orderctl tail and verify: name the
		// setting when the listener refused us.
		return nil, fmt.Errorf("read partitions of %s: %w", topic, ConnectError(err))
	}
	var first, last []kafkago.OffsetRequest
	for p := 0; p < n; p++ {
		first = append(first, kafkago.FirstOffsetOf(p))
		last = append(last, kafkago.LastOffsetOf(p))
	}
	starts, err := listOffsets(ctx, client, topic, first)
	if err != nil {
		return nil, err
	}
	ends, err := listOffsets(ctx, client, topic, last)
	if err != nil {
		return nil, err
	}
	out := make([]PartitionRange, 0, n)
	for p := 0; p < n; p++ {
		out = append(out, PartitionRange{Partition: p, First: starts[p], End: ends[p]})
	}
	return out, nil
}

// OffsetsAt returns, for each partition, the first offset whose timestamp is
// at or after t; a partition with no such message maps to -1.
func (a *Admin) OffsetsAt(ctx context.Context, topic string, partitions int, t time.Time) (map[int]int64, error) {
	a.fresh()
	reqs := make([]kafkago.OffsetRequest, 0, partitions)
	for p := 0; p < partitions; p++ {
		reqs = append(reqs, kafkago.TimeOffsetOf(p, t))
	}
	return listOffsets(ctx, a.client, topic, reqs)
}

// listOffsets asks for one kind of offset per partition: kafkago.FirstOffset,
// kafkago.LastOffset, or a timestamp (then -1 means no message at or after it).
func listOffsets(ctx context.Context, client *kafkago.Client, topic string, reqs []kafkago.OffsetRequest) (map[int]int64, error) {
	resp, err := client.ListOffsets(ctx, &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	kind := reqs[0].Timestamp
	out := make(map[int]int64, len(reqs))
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("list offsets of %s/%d: %w", topic, po.Partition, po.Error)
		}
		switch kind {
		case kafkago.FirstOffset:
			out[po.Partition] = po.FirstOffset
		case kafkago.LastOffset:
			out[po.Partition] = po.LastOffset
		default:
			// kafka-go files a time lookup's answer under Offsets (offset ->
			// timestamp); "none found" comes back as timestamp -1, which it
			// files as LastOffset -1.
			out[po.Partition] = -1
			for off := range po.Offsets {
				out[po.Partition] = off
			}
		}
	}
	if len(out) != len(reqs) {
		return nil, fmt.Errorf("list offsets of %s: %d of %d partitions answered", topic, len(out), len(reqs))
	}
	return out, nil
}
