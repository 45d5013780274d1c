package kafka

import (
	"context"
	"fmt"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/orderpipe/orderpipe/internal/servicetest"
)

func TestOffsetsOnRealKafka(t *testing.T) {
	brokers := servicetest.KafkaBrokers(t)
	cfg := Config{Brokers: brokers, ClientID: "offsets-test"}
	topic := servicetest.Name(t, "offsets")
	admin := mustAdmin(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	if _, exists, err := admin.TopicPartitions(ctx, topic); err != nil || exists {
		t.Fatalf("TopicPartitions before creation: exists %v, err %v", exists, err)
	}
	servicetest.CreateTopic(t, brokers, topic, 2)
	if n, exists, err := admin.TopicPartitions(ctx, topic); err != nil || !exists || n != 2 {
		t.Fatalf("TopicPartitions: %d %v %v, want 2 partitions", n, exists, err)
	}

	// Partition 0 gets 5 messages one minute apart; partition 1 stays empty.
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	w, err := NewWriter(cfg, WriterConfig{Acks: "all", BatchConfig: BatchConfig{Compression: "none", BatchSize: 10, BatchBytes: 1 << 20, BatchTimeout: time.Millisecond}}, topic)
	if err != nil {
		t.Fatal(err)
	}
	w.Balancer = kafkago.BalancerFunc(func(kafkago.Message, ...int) int { return 0 })
	var msgs []kafkago.Message
	for i := range 5 {
		msgs = append(msgs, kafkago.Message{Value: []byte(fmt.Sprint(i)), Time: base.Add(time.Duration(i) * time.Minute)})
	}
	if _, err := WriteAll(ctx, w, msgs, nil); err != nil {
		t.Fatal(err)
	}
	w.Close()

	ranges, err := admin.Offsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	want := []PartitionRange{{Partition: 0, First: 0, End: 5}, {Partition: 1, First: 0, End: 0}}
	if fmt.Sprint(ranges) != fmt.Sprint(want) {
		t.Errorf("Offsets = %v, want %v", ranges, want)
	}
	for _, tc := range []struct {
		at   time.Time
		want map[int]int64
	}{
		{base.Add(-time.Minute), map[int]int64{0: 0, 1: -1}},
		{base.Add(150 * time.Second), map[int]int64{0: 3, 1: -1}},
		{base.Add(time.Hour), map[int]int64{0: -1, 1: -1}},
	} {
		got, err := admin.OffsetsAt(ctx, topic, 2, tc.at)
		if err != nil || fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("OffsetsAt(%s) = %v, %v; want %v", tc.at.Sub(base), got, err, tc.want)
		}
	}
}

// mustAdmin builds an Admin or stops the test.
func mustAdmin(t *testing.T, cfg Config) *Admin {
	t.Helper()
	a, err := NewAdmin(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
