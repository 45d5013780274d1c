package deadletter

import (
	"errors"
	"testing"

	kafkago "github.com/segmentio/kafka-go"
)

func hdrs(kv ...string) []kafkago.Header {
	var h []kafkago.Header
	for i := 0; i+1 < len(kv); i += 2 {
		h = append(h, kafkago.Header{Key: kv[i], Value: []byte(kv[i+1])})
	}
	return h
}

func TestParseDLQHeaders(t *testing.T) {
	for _, tc := range []struct {
		name    string
		h       []kafkago.Header
		want    Source
		reason  string
		wantErr error
	}{
		{"complete", hdrs(HeaderError, "bad json", HeaderSourceTopic, "orders", HeaderSourcePartition, "3", HeaderSourceOffset, "42"), Source{"orders", 3, 42}, "bad json", nil},
		{"no reason", hdrs(HeaderSourceTopic, "orders", HeaderSourcePartition, "0", HeaderSourceOffset, "0"), Source{"orders", 0, 0}, "", nil},
		{"last wins", hdrs(HeaderSourceTopic, "a", HeaderSourceTopic, "b", HeaderSourcePartition, "1", HeaderSourceOffset, "7"), Source{"b", 1, 7}, "", nil},
		{"source's own headers kept before", append(hdrs("trace", "x", HeaderSourceTopic, "stale"), Headers(Source{"orders", 2, 9}, "mapping")...), Source{"orders", 2, 9}, "mapping", nil},
		{"missing offset", hdrs(HeaderSourceTopic, "orders", HeaderSourcePartition, "1"), Source{}, "", ErrNotDeadLetter},
		{"no headers", nil, Source{}, "", ErrNotDeadLetter},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, reason, err := ParseDLQHeaders(tc.h)
			if !errors.Is(err, tc.wantErr) || got != tc.want || reason != tc.reason {
				t.Errorf("got %v %q %v, want %v %q %v", got, reason, err, tc.want, tc.reason, tc.wantErr)
			}
		})
	}
	for _, bad := range [][]kafkago.Header{
		hdrs(HeaderSourceTopic, "", HeaderSourcePartition, "1", HeaderSourceOffset, "1"),
		hdrs(HeaderSourceTopic, "o", HeaderSourcePartition, "-1", HeaderSourceOffset, "1"),
		hdrs(HeaderSourceTopic, "o", HeaderSourcePartition, "x", HeaderSourceOffset, "1"),
		hdrs(HeaderSourceTopic, "o", HeaderSourcePartition, "1", HeaderSourceOffset, "1e3"),
	} {
		if _, _, err := ParseDLQHeaders(bad); err == nil || errors.Is(err, ErrNotDeadLetter) {
			t.Errorf("ParseDLQHeaders(%v) = %v, want a parse error", bad, err)
		}
	}
}

func FuzzParseDLQHeaders(f *testing.F) {
	f.Add("orders", "3", "42", "reason")
	f.Add("", "-1", "x", "")
	f.Add("o", " 7 ", "9223372036854775807", "\x00")
	f.Fuzz(func(t *testing.T, topic, partition, offset, reason string) {
		src, r, err := ParseDLQHeaders(hdrs(HeaderSourceTopic, topic, HeaderSourcePartition, partition, HeaderSourceOffset, offset, HeaderError, reason))
		if r != reason {
			t.Fatalf("reason %q, want %q", r, reason)
		}
		if err == nil && (src.Topic != topic || src.Partition < 0 || src.Offset < 0) {
			t.Fatalf("accepted %+v from %q %q %q", src, topic, partition, offset)
		}
	})
}

// FuzzHeadersRoundTrip: whatever the writer's side encodes, the reader's
// side decodes to the same source and reason.
func FuzzHeadersRoundTrip(f *testing.F) {
	f.Add("orders", 3, int64(42), "bad json")
	f.Fuzz(func(t *testing.T, topic string, partition int, offset int64, reason string) {
		if topic == "" || partition < 0 || partition > 1<<31-1 || offset < 0 {
			t.Skip()
		}
		src := Source{topic, partition, offset}
		got, r, err := ParseDLQHeaders(Headers(src, reason))
		if err != nil || got != src || r != reason {
			t.Fatalf("round trip of %v %q gave %v %q %v", src, reason, got, r, err)
		}
	})
}
