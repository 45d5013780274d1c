// Package deadletter is the dead-letter record format that both the consumer
// (internal/pipeline, which writes the records) and `orderctl verify`
// (internal/reconcile, which reads them) rely on: a dead-lettered record
// keeps the source message's key and value, and carries headers naming the
// source message (topic, partition, offset) and why it was rejected.
//
// The package is deliberately small and has no dependencies beyond the Kafka
// message type, so the reader of the format does not pull in the writer.
package deadletter

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	kafkago "github.com/segmentio/kafka-go"
)

// Headers put on every dead-lettered record (after the source message's own
// headers).
const (
	HeaderError           = "orderpipe-error"
	HeaderSourceTopic     = "orderpipe-source-topic"
	HeaderSourcePartition = "orderpipe-source-partition"
	HeaderSourceOffset    = "orderpipe-source-offset"
)

// Source identifies the Kafka message a dead-lettered record stands for.
type Source struct {
	Topic     string
	Partition int
	Offset    int64
}

func (s Source) String() string { return fmt.Sprintf("%s/%d@%d", s.Topic, s.Partition, s.Offset) }

// Headers returns the four headers naming src and reason, in the order the
// consumer writes them.
func Headers(src Source, reason string) []kafkago.Header {
	return []kafkago.Header{
		{Key: HeaderError, Value: []byte(reason)},
		{Key: HeaderSourceTopic, Value: []byte(src.Topic)},
		{Key: HeaderSourcePartition, Value: []byte(strconv.Itoa(src.Partition))},
		{Key: HeaderSourceOffset, Value: []byte(strconv.FormatInt(src.Offset, 10))},
	}
}

// LastHeader is the value of the last of headers named key ("" when none),
// as Kafka's own clients read a repeated header.
func LastHeader(headers []kafkago.Header, key string) string {
	v := ""
	for _, h := range headers {
		if h.Key == key {
			v = string(h.Value)
		}
	}
	return v
}

// ErrNotDeadLetter is returned by ParseDLQHeaders for a record that lacks the
// source headers, so it cannot be matched to any message.
var ErrNotDeadLetter = errors.New("no orderpipe source headers")

// ParseDLQHeaders reads where a dead-lettered record came from and why it was
// rejected. Header names are matched exactly; when a header repeats, the last
// one wins, as in Kafka's own clients.
func ParseDLQHeaders(headers []kafkago.Header) (src Source, reason string, err error) {
	var topic, partition, offset string
	var seen int
	for _, h := range headers {
		switch h.Key {
		case HeaderSourceTopic:
			topic, seen = string(h.Value), seen|1
		case HeaderSourcePartition:
			partition, seen = string(h.Value), seen|2
		case HeaderSourceOffset:
			offset, seen = string(h.Value), seen|4
		case HeaderError:
			reason = string(h.Value)
		}
	}
	if seen != 7 {
		return Source{}, reason, ErrNotDeadLetter
	}
	if topic == "" {
		return Source{}, reason, fmt.Errorf("header %s is empty", HeaderSourceTopic)
	}
	p, err := strconv.ParseInt(strings.TrimSpace(partition), 10, 32)
	if err != nil || p < 0 {
		return Source{}, reason, fmt.Errorf("header %s: %q is not a partition number", HeaderSourcePartition, partition)
	}
	o, err := strconv.ParseInt(strings.TrimSpace(offset), 10, 64)
	if err != nil || o < 0 {
		return Source{}, reason, fmt.Errorf("header %s: %q is not an offset", HeaderSourceOffset, offset)
	}
	return Source{Topic: topic, Partition: int(p), Offset: o}, reason, nil
}
