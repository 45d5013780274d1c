package servicetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

// CreateTopic creates a topic for one test and deletes it when the test ends.
func CreateTopic(tb testing.TB, brokers []string, topic string, partitions int) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := &kafkago.Client{Addr: kafkago.TCP(brokers...), Timeout: 10 * time.Second}
	resp, err := client.CreateTopics(ctx, &kafkago.CreateTopicsRequest{Topics: []kafkago.TopicConfig{{
		Topic: topic, NumPartitions: partitions, ReplicationFactor: 1,
	}}})
	if err != nil {
		tb.Fatalf("create topic %s: %v", topic, err)
	}
	if err := resp.Errors[topic]; err != nil && !errors.Is(err, kafkago.TopicAlreadyExists) {
		tb.Fatalf("create topic %s: %v", topic, err)
	}
	tb.Cleanup(func() { DeleteTopic(tb, brokers, topic) })
}

// DeleteTopic removes a topic, ignoring one that is already gone.
func DeleteTopic(tb testing.TB, brokers []string, topic string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := &kafkago.Client{Addr: kafkago.TCP(brokers...), Timeout: 10 * time.Second}
	if _, err := client.DeleteTopics(ctx, &kafkago.DeleteTopicsRequest{Topics: []string{topic}}); err != nil {
		tb.Logf("delete topic %s: %v", topic, err)
	}
}

// EndOffsets returns each partition's next offset (the high watermark).
func EndOffsets(tb testing.TB, brokers []string, topic string) map[int]int64 {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := &kafkago.Client{Addr: kafkago.TCP(brokers...), Timeout: 10 * time.Second}
	meta, err := client.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{topic}})
	if err != nil || len(meta.Topics) != 1 || meta.Topics[0].Error != nil {
		tb.Fatalf("read metadata of %s: %v %+v", topic, err, meta)
	}
	var reqs []kafkago.OffsetRequest
	for _, p := range meta.Topics[0].Partitions {
		reqs = append(reqs, kafkago.LastOffsetOf(p.ID))
	}
	resp, err := client.ListOffsets(ctx, &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{topic: reqs}})
	if err != nil {
		tb.Fatalf("list offsets of %s: %v", topic, err)
	}
	ends := make(map[int]int64)
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			tb.Fatalf("list offsets of %s/%d: %v", topic, po.Partition, po.Error)
		}
		ends[po.Partition] = po.LastOffset
	}
	return ends
}

// ReadAll returns every message of the topic, partition by partition, as it
// stands now. It fails the test if the topic cannot be read within a minute.
func ReadAll(tb testing.TB, brokers []string, topic string) []kafkago.Message {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var all []kafkago.Message
	for partition, end := range EndOffsets(tb, brokers, topic) {
		if end == 0 {
			continue
		}
		r := kafkago.NewReader(kafkago.ReaderConfig{
			Brokers: brokers, Topic: topic, Partition: partition, MinBytes: 1, MaxBytes: 8 << 20, MaxWait: 100 * time.Millisecond,
		})
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				tb.Fatalf("read %s/%d: %v", topic, partition, err)
			}
			all = append(all, m)
			if m.Offset >= end-1 {
				break
			}
		}
		r.Close()
	}
	return all
}

// ProduceTo writes msgs to topic, each to the partition its Partition field
// names (kafka-go's writers otherwise choose; a Topic field is ignored), acknowledged by every
// replica, in batches of up to 10,000 compressed with lz4. It fails the test
// if they are not all written within five minutes.
func ProduceTo(tb testing.TB, brokers []string, topic string, msgs []kafkago.Message) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	w := &kafkago.Writer{Addr: kafkago.TCP(brokers...), Topic: topic, RequiredAcks: kafkago.RequireAll,
		Balancer:  kafkago.BalancerFunc(func(m kafkago.Message, _ ...int) int { return m.Partition }),
		BatchSize: 10_000, BatchBytes: 8 << 20, BatchTimeout: 5 * time.Millisecond, Compression: kafkago.Lz4}
	defer w.Close()
	const chunk = 100_000
	for start := 0; start < len(msgs); start += chunk {
		// The writer names the topic; a message may not name one too.
		batch := slices.Clone(msgs[start:min(start+chunk, len(msgs))])
		for i := range batch {
			batch[i].Topic = ""
		}
		if err := w.WriteMessages(ctx, batch...); err != nil {
			tb.Fatalf("produce to %s: %v", topic, err)
		}
	}
}
