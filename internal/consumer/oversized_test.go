package consumer_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"strconv"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/orderpipe/orderpipe/internal/deadletter"
	"github.com/orderpipe/orderpipe/internal/e2e"
	"github.com/orderpipe/orderpipe/internal/kafka"
)

// One malformed message near Kafka's size limit, whose dead letter Kafka
// refuses whole, is dead-lettered cut to fit; the valid orders behind it,
// on its partition and the others, are all indexed, and the consumer stays
// up and ready. Two ways of being refused: the copy's headers push it over
// the default limits (kafka-go's BatchBytes refuses it before sending), and
// a dead-letter topic whose max.message.bytes is below the source topic's
// (the broker refuses it: MESSAGE_TOO_LARGE).
func TestOversizedMalformedMessageIsDeadLetteredTruncated(t *testing.T) {
	for _, tc := range []struct {
		name     string
		size     int // of the malformed value
		dlqLimit int // the dead-letter topic's max.message.bytes (0: the broker's)
	}{
		{"headers push the copy over the default limit", 1_048_400, 0},
		{"dead-letter topic with a lower limit", 1_047_000, 500_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := e2e.NewStack(t)
			if tc.dlqLimit > 0 {
				setTopicConfig(t, s, s.DLQTopic, "max.message.bytes", strconv.Itoa(tc.dlqLimit))
			}
			big := make([]byte, tc.size)
			if _, err := rand.Read(big); err != nil {
				t.Fatal(err)
			}
			big[0] = '~' // not JSON, whatever the random bytes
			produceRaw(t, s, kafkago.Message{Key: []byte("oversized"), Value: big, Headers: []kafkago.Header{{Key: "trace", Value: []byte("t-1")}}})
			evs := e2e.Generate(t, 500, 0)
			x := e2e.Expect(evs)
			s.Produce(t, evs)

			c := s.StartConsumer(t, "only")
			s.WaitDone(t, x, 2*time.Minute)
			select {
			case err := <-c.Done:
				t.Fatalf("the consumer stopped: %v", err)
			default:
			}
			if r := c.Health.Reason(); r != "" {
				t.Errorf("not ready: %q", r)
			}
			s.AssertIndex(t, x)

			dead := s.ReadTopic(t, s.DLQTopic)
			if len(dead) != 1 {
				t.Fatalf("%d dead letters, want 1", len(dead))
			}
			d := dead[0]
			if got := e2e.Header(d, deadletter.HeaderTruncated); got != strconv.Itoa(tc.size) {
				t.Errorf("%s = %q, want %d", deadletter.HeaderTruncated, got, tc.size)
			}
			if len(d.Value) == 0 || len(d.Value) >= tc.size || !bytes.HasPrefix(big, d.Value) {
				t.Errorf("dead letter value: %d bytes, want a shorter prefix of the %d-byte original", len(d.Value), tc.size)
			}
			if string(d.Key) != "oversized" || e2e.Header(d, "trace") != "t-1" {
				t.Errorf("key %q, trace header %q: want both kept", d.Key, e2e.Header(d, "trace"))
			}
			src, reason, err := deadletter.ParseDLQHeaders(d.Headers)
			if err != nil || src.Topic != s.Topic || reason == "" {
				t.Errorf("source headers: %v, reason %q, %v", src, reason, err)
			}
			t.Logf("dead letter: %d of %d bytes of value, reason %q, source %v", len(d.Value), tc.size, reason, src)
			c.Close()
		})
	}
}

// produceRaw writes m uncompressed, with room for one message near the
// broker's limit.
func produceRaw(t *testing.T, s *e2e.Stack, m kafkago.Message) {
	t.Helper()
	wc := e2e.WriterConfig(t)
	wc.Compression, wc.BatchBytes = "none", 4<<20
	w, err := kafka.NewWriter(s.Kafka, wc, s.Topic)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := kafka.WriteAll(ctx, w, []kafkago.Message{m}, nil); err != nil {
		t.Fatalf("produce the oversized message: %v", err)
	}
}

func setTopicConfig(t *testing.T, s *e2e.Stack, topic, name, value string) {
	t.Helper()
	client, err := s.Kafka.Client()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := client.AlterConfigs(ctx, &kafkago.AlterConfigsRequest{Resources: []kafkago.AlterConfigRequestResource{{
		ResourceType: kafkago.ResourceTypeTopic, ResourceName: topic,
		Configs: []kafkago.AlterConfigRequestConfig{{Name: name, Value: value}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range res.Errors {
		if e != nil {
			t.Fatalf("set %s of %s: %v", name, topic, e)
		}
	}
}
