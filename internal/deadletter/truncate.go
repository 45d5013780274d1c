package deadletter

import (
	"strconv"

	kafkago "github.com/segmentio/kafka-go"
)

// HeaderTruncated marks a dead letter cut to fit the dead-letter topic's
// size limit; its value is the size in bytes of the source message's value.
// The whole message can still be read from the source topic, at the offset
// the source headers name, for as long as its retention keeps it.
const HeaderTruncated = "orderpipe-truncated"

// maxReason bounds the reason of a truncated dead letter: a reason is a line
// of text for a person, and one that quotes a huge input is cut first.
const maxReason = 1024

// recordOverhead is what a header costs in a Kafka record beyond its key and
// value (two varint lengths), counted generously so that Size errs high.
const recordOverhead = 10

// Size is what m takes in a Kafka record, near enough to compare with a
// size limit: key, value, and each header's key and value with its lengths.
func Size(m kafkago.Message) int {
	n := len(m.Key) + len(m.Value) + 2*recordOverhead
	for _, h := range m.Headers {
		n += headerSize(h)
	}
	return n
}

func headerSize(h kafkago.Header) int { return len(h.Key) + len(h.Value) + recordOverhead }

// Truncate returns a copy of dead letter m (as the consumer writes it:
// the source's headers, then the four of Headers) that takes at most limit
// bytes by Size. It keeps, in this order of priority: the reason (cut to
// 1 KiB at most) and the source topic, partition and offset; the key (cut
// to 1 KiB when the rest does not fit); a HeaderTruncated header with the
// original value's size; the source message's own headers, in order,
// while they fit; and as much of the value, from its start, as fits. ok is
// false when not even the reason, the source and the size header fit.
func Truncate(m kafkago.Message, limit int) (cut kafkago.Message, ok bool) {
	own := map[string]int{} // last position of each of our headers, as ParseDLQHeaders reads them
	for i, h := range m.Headers {
		switch h.Key {
		case HeaderError, HeaderSourceTopic, HeaderSourcePartition, HeaderSourceOffset:
			own[h.Key] = i
		}
	}
	var kept []kafkago.Header
	for _, k := range []string{HeaderError, HeaderSourceTopic, HeaderSourcePartition, HeaderSourceOffset} {
		if i, found := own[k]; found {
			h := m.Headers[i]
			if k == HeaderError && len(h.Value) > maxReason {
				h.Value = h.Value[:maxReason]
			}
			kept = append(kept, h)
		}
	}
	kept = append(kept, kafkago.Header{Key: HeaderTruncated, Value: []byte(strconv.Itoa(len(m.Value)))})
	cut = kafkago.Message{Key: m.Key, Headers: kept}
	if Size(cut) > limit && len(cut.Key) > maxReason {
		cut.Key = cut.Key[:maxReason]
	}
	room := limit - Size(cut)
	if room < 0 {
		return kafkago.Message{}, false
	}
	var theirs []kafkago.Header
	for i, h := range m.Headers {
		if j, found := own[h.Key]; found && j == i {
			continue
		}
		if headerSize(h) > room {
			break // keep a prefix of them, so none is read out of order
		}
		room -= headerSize(h)
		theirs = append(theirs, h)
	}
	// The source's headers first, as in the dead letter that was refused.
	cut.Headers = append(theirs, kept...)
	cut.Value = m.Value[:min(len(m.Value), room)]
	return cut, true
}
