package reconcile

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/orderpipe/orderpipe/internal/pipeline"
)

// Headers the Go consumer puts on every dead-lettered record; they point back
// at the message that could not be indexed. They are the consumer's own
// constants, so the two cannot drift apart.
const (
	HeaderError           = pipeline.HeaderError
	HeaderSourceTopic     = pipeline.HeaderSourceTopic
	HeaderSourcePartition = pipeline.HeaderSourcePartition
	HeaderSourceOffset    = pipeline.HeaderSourceOffset
)

// Source identifies one Kafka message.
type Source struct {
	Topic     string
	Partition int
	Offset    int64
}

func (s Source) String() string { return fmt.Sprintf("%s/%d@%d", s.Topic, s.Partition, s.Offset) }

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
