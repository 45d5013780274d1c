package deadletter

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	kafkago "github.com/segmentio/kafka-go"
)

func TestTruncateKeepsReasonSourceAndAPrefix(t *testing.T) {
	src := Source{Topic: "orders", Partition: 3, Offset: 1234}
	value := bytes.Repeat([]byte("x"), 100_000)
	theirs := hdrs("trace-id", strings.Repeat("t", 50), "big", strings.Repeat("b", 5000))
	m := kafkago.Message{Key: []byte("ord-1"), Value: value, Headers: append(theirs, Headers(src, "malformed: bad json")...)}
	for _, tc := range []struct {
		name        string
		limit       int
		wantHeaders []string // the source's own headers kept
		wantValue   int      // at least this much of the value
	}{
		{"room for all headers and most of the value", 90_000, []string{"trace-id", "big"}, 80_000},
		{"headers push it over", 3000, []string{"trace-id"}, 2000},
		{"only our headers fit", 220, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cut, ok := Truncate(m, tc.limit)
			if !ok {
				t.Fatalf("Truncate(%d) did not fit", tc.limit)
			}
			if Size(cut) > tc.limit {
				t.Errorf("Size = %d, over the limit %d", Size(cut), tc.limit)
			}
			got, reason, err := ParseDLQHeaders(cut.Headers)
			if err != nil || got != src || reason != "malformed: bad json" {
				t.Errorf("ParseDLQHeaders = %v %q %v, want %v and the reason", got, reason, err, src)
			}
			if v := LastHeader(cut.Headers, HeaderTruncated); v != strconv.Itoa(len(value)) {
				t.Errorf("%s = %q, want %d", HeaderTruncated, v, len(value))
			}
			var kept []string
			for _, h := range cut.Headers {
				if h.Key == "trace-id" || h.Key == "big" {
					kept = append(kept, h.Key)
				}
			}
			if strings.Join(kept, ",") != strings.Join(tc.wantHeaders, ",") {
				t.Errorf("kept headers %v, want %v", kept, tc.wantHeaders)
			}
			if len(cut.Value) < tc.wantValue || !bytes.HasPrefix(value, cut.Value) {
				t.Errorf("value: %d bytes (a prefix: %v), want a prefix of at least %d", len(cut.Value), bytes.HasPrefix(value, cut.Value), tc.wantValue)
			}
			if string(cut.Key) != "ord-1" {
				t.Errorf("key %q changed", cut.Key)
			}
		})
	}
}

func TestTruncateCutsAHugeReasonAndKey(t *testing.T) {
	m := kafkago.Message{Key: bytes.Repeat([]byte("k"), 50_000), Value: []byte("v"),
		Headers: Headers(Source{"orders", 0, 1}, strings.Repeat("r", 50_000))}
	cut, ok := Truncate(m, 4000)
	if !ok || Size(cut) > 4000 {
		t.Fatalf("Truncate = %d bytes, %v; want at most 4000", Size(cut), ok)
	}
	if len(LastHeader(cut.Headers, HeaderError)) != maxReason || len(cut.Key) != maxReason {
		t.Errorf("reason %d and key %d bytes, want both cut to %d", len(LastHeader(cut.Headers, HeaderError)), len(cut.Key), maxReason)
	}
}

func TestTruncateReportsALimitTooSmallForTheEssentials(t *testing.T) {
	m := kafkago.Message{Key: []byte("k"), Value: []byte("v"), Headers: Headers(Source{"orders", 0, 1}, "malformed")}
	if cut, ok := Truncate(m, 64); ok {
		t.Fatalf("Truncate(64) = %d bytes, ok; the reason and source headers alone take more", Size(cut))
	}
}
