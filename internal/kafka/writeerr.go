package kafka

import (
	"errors"
	"io"
	"net"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
)

// This file is the one place that says what a failed write means: whether
// retrying can help (permanent) and whether the broker may have stored the
// messages all the same (mayBeStored).

// A write that retrying cannot fix is marked with retry.Permanent (matched
// by retry.IsPermanent): a message larger than the writer's BatchBytes, a
// broker error Kafka does not call retriable (authorization, a record the
// broker refuses, an invalid topic), or a closed writer.

// WriteError is the error of one write attempt that Kafka did not wholly
// acknowledge.
type WriteError struct {
	// MayDuplicate counts the failed messages a broker may have stored all
	// the same, because its answer was lost (a connection dropped, a
	// timeout) or came after the append: sending them again can store them
	// twice. The others were refused before any append, and resending them
	// cannot duplicate them.
	MayDuplicate int
	err          error
}

func (e *WriteError) Error() string { return e.err.Error() }
func (e *WriteError) Unwrap() error { return e.err }

// permanent reports whether retrying err cannot succeed.
func permanent(err error) bool {
	var tooLarge kafkago.MessageTooLargeError
	if errors.As(err, &tooLarge) {
		return true
	}
	if errors.Is(err, io.ErrClosedPipe) { // the writer was closed
		return true
	}
	var kerr kafkago.Error
	if errors.As(err, &kerr) {
		// UNKNOWN_SERVER_ERROR says nothing about the request; like a
		// network error, it is worth another try.
		return kerr != kafkago.Unknown && !kerr.Temporary()
	}
	return false
}

// mayBeStored reports whether a message that failed with err may be in
// the log all the same. Only what certainly came before the append says
// no: a broker's refusal, a connection that was never made, kafka-go
// finding no leader to send to, a writer that refused the call. Anything
// else, known or not, may have been appended: a count of possible
// duplicates may be too high, never too low.
func mayBeStored(err error) bool {
	var kerr kafkago.Error
	var opErr *net.OpError
	var tooLarge kafkago.MessageTooLargeError
	switch {
	case errors.As(err, &kerr):
		return !refusedBeforeAppend[kerr]
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return false
	case errors.Is(err, protocol.ErrNoLeader):
		// kafka-go's routing: the metadata it holds names no leader.
		// (Its ErrNoTopic and ErrNoPartition also stand for a reply
		// without the partition, so they say nothing about the append.)
		return false
	case errors.As(err, &tooLarge), errors.Is(err, io.ErrClosedPipe):
		return false
	}
	return true
}

// refusedBeforeAppend are the broker's answers to a produce request that
// it gives before appending the partition's batch (Kafka appends one
// partition's batch whole or not at all). Not among them, because the
// append may have happened: REQUEST_TIMED_OUT (appended by the leader,
// not replicated in time), NOT_ENOUGH_REPLICAS_AFTER_APPEND,
// NETWORK_EXCEPTION, KAFKA_STORAGE_ERROR, UNKNOWN_SERVER_ERROR.
var refusedBeforeAppend = map[kafkago.Error]bool{
	kafkago.InvalidMessage:              true, // failed its CRC check
	kafkago.UnknownTopicOrPartition:     true,
	kafkago.InvalidMessageSize:          true,
	kafkago.LeaderNotAvailable:          true,
	kafkago.NotLeaderForPartition:       true,
	kafkago.BrokerNotAvailable:          true, // also kafka-go's own, for a broker it has no connection to
	kafkago.MessageSizeTooLarge:         true,
	kafkago.InvalidTopic:                true,
	kafkago.RecordListTooLarge:          true,
	kafkago.NotEnoughReplicas:           true, // fewer in sync than min.insync.replicas, checked first
	kafkago.InvalidRequiredAcks:         true,
	kafkago.TopicAuthorizationFailed:    true,
	kafkago.ClusterAuthorizationFailed:  true,
	kafkago.InvalidTimestamp:            true,
	kafkago.UnsupportedSASLMechanism:    true,
	kafkago.IllegalSASLState:            true,
	kafkago.UnsupportedVersion:          true,
	kafkago.UnsupportedForMessageFormat: true,
	kafkago.PolicyViolation:             true,
	kafkago.SASLAuthenticationFailed:    true,
	kafkago.UnsupportedCompressionType:  true,
	kafkago.InvalidRecord:               true,
}

func messageSize(m kafkago.Message) int {
	n := len(m.Key) + len(m.Value)
	for _, h := range m.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}

// TooLarge reports whether a write failed because a message, or the batch
// it was sent in, is larger than the writer (its BatchBytes) or the broker
// (the topic's max.message.bytes, the broker's message.max.bytes) takes. A
// smaller message may then still be written.
func TooLarge(err error) bool {
	var tooLarge kafkago.MessageTooLargeError
	return errors.As(err, &tooLarge) || errors.Is(err, kafkago.MessageSizeTooLarge) || errors.Is(err, kafkago.RecordListTooLarge)
}

// PermanentHint says what to change after a write that failed for good
// (retry.IsPermanent) to topic, for the error a person reads.
func PermanentHint(err error, topic string) string {
	switch {
	case errors.Is(err, kafkago.TopicAuthorizationFailed), errors.Is(err, kafkago.ClusterAuthorizationFailed),
		errors.Is(err, kafkago.SASLAuthenticationFailed):
		return "grant this client's Kafka user Write on topic " + topic
	case errors.Is(err, kafkago.UnknownTopicOrPartition), errors.Is(err, kafkago.InvalidTopic):
		return "create topic " + topic + " (orderctl setup) or name an existing one"
	case TooLarge(err):
		return "raise max.message.bytes of topic " + topic + " (and KAFKA_BATCH_BYTES)"
	case errors.Is(err, kafkago.PolicyViolation), errors.Is(err, kafkago.InvalidRecord):
		return "check the broker's policy for topic " + topic
	}
	return "check topic " + topic + " and the Kafka settings (KAFKA_*)"
}
