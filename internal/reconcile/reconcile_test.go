package reconcile

import (
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/internal/kafka"
)

func src(topic string, p int, o int64) Source { return Source{Topic: topic, Partition: p, Offset: o} }

func spans(firstEnd ...int64) []kafka.PartitionRange {
	var out []kafka.PartitionRange
	for i := 0; i+1 < len(firstEnd); i += 2 {
		out = append(out, kafka.PartitionRange{Partition: i / 2, First: firstEnd[i], End: firstEnd[i+1]})
	}
	return out
}

func TestCoverage(t *testing.T) {
	for _, tc := range []struct {
		name           string
		retained, read []kafka.PartitionRange
		full           bool
		why            string
	}{
		{"everything from 0", spans(0, 10, 0, 5), spans(0, 10, 0, 5), true, ""},
		{"empty partitions", spans(0, 0, 0, 0), spans(0, 0, 0, 0), true, ""},
		{"retention moved one start", spans(0, 10, 7, 12), spans(0, 10, 7, 12), false, "retention: 1 of 2 partitions"},
		{"retention emptied a partition", spans(0, 10, 12, 12), spans(0, 10, 12, 12), false, "retention: 1 of 2 partitions no longer hold their oldest messages (partition 1 from 12)"},
		{"from offset", spans(0, 10, 0, 5), spans(3, 10, 3, 5), false, "partial range"},
		{"since, nothing new in one partition", spans(0, 10, 0, 5), spans(4, 10, 5, 5), false, "partial range"},
		{"since before everything", spans(0, 10, 0, 5), spans(0, 10, 0, 5), true, ""},
		{"range and retention", spans(2, 10, 0, 5), spans(4, 10, 0, 5), false, "partial range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			full, why := Coverage(tc.retained, tc.read)
			if full != tc.full || !strings.Contains(why, tc.why) || full != (why == "") {
				t.Errorf("Coverage = %v %q, want %v and a note containing %q", full, why, tc.full, tc.why)
			}
			snap := &Snapshot{Retained: tc.retained, Spans: tc.read}
			if snap.Full() != tc.full {
				t.Errorf("Snapshot.Full() = %v, want %v", snap.Full(), tc.full)
			}
		})
	}
}

func TestCompare(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	latest := map[string]Latest{
		"ok":     {Version: 2, Partition: 0, Offset: 1, UpdatedAt: at, Produced: at.Add(time.Second)},
		"gone":   {Version: 1, Partition: 0, Offset: 2},
		"old":    {Version: 3, Partition: 1, Offset: 5},
		"future": {Version: 1, Partition: 1, Offset: 6},
		"dead":   {Version: 2, Partition: 1, Offset: 7},
	}
	malformed := []Malformed{{Source: src("t", 0, 3)}, {Source: src("t", 1, 8)}}
	docs := map[string]Doc{"ok": {Version: 2}, "old": {Version: 2}, "future": {Version: 4}, "stray": {Version: 1}, "dead": {Version: 1}}
	dl := &DeadLetters{Records: 2, Sources: map[Source]string{src("t", 0, 3): "bad", src("t", 1, 7): "mapping"}}

	for _, tc := range []struct {
		name                     string
		retained, read           []kafka.PartitionRange
		missing, unexpected, dlq []string
		stale, ahead             []Diff
		malformed                []Source
		note                     string
	}{
		{"full", spans(0, 4, 0, 9), spans(0, 4, 0, 9), []string{"gone"}, []string{"stray"}, []string{"dead"},
			[]Diff{{"old", 3, 2}}, []Diff{{"future", 1, 4}}, []Source{src("t", 1, 8)}, ""},
		{"partial", spans(0, 4, 0, 9), spans(1, 4, 1, 9), []string{"gone"}, nil, []string{"dead"},
			[]Diff{{"old", 3, 2}}, nil, []Source{src("t", 1, 8)}, "partial range"},
		// A whole read of a topic whose oldest messages expired: "stray"
		// is an order whose every message is gone, not an unexpected
		// document.
		{"retention", spans(0, 4, 5, 9), spans(0, 4, 5, 9), []string{"gone"}, nil, []string{"dead"},
			[]Diff{{"old", 3, 2}}, nil, []Source{src("t", 1, 8)}, "retention: 1 of 2 partitions"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			snap := &Snapshot{Topic: "t", Messages: 9, Latest: latest, Malformed: malformed, Retained: tc.retained, Spans: tc.read}
			r := Compare(snap, docs, dl)
			var mal []Source
			for _, m := range r.MalformedNotInDLQ {
				mal = append(mal, m.Source)
			}
			if !slices.Equal(r.Missing, tc.missing) || !slices.Equal(r.Unexpected, tc.unexpected) ||
				!slices.Equal(r.DeadLettered, tc.dlq) || !slices.Equal(r.Stale, tc.stale) ||
				!slices.Equal(r.Ahead, tc.ahead) || !slices.Equal(mal, tc.malformed) {
				t.Errorf("got missing %v unexpected %v dead %v stale %v ahead %v malformed %v",
					r.Missing, r.Unexpected, r.DeadLettered, r.Stale, r.Ahead, mal)
			}
			if r.Full != (tc.note == "") {
				t.Errorf("Full = %v", r.Full)
			}
			var out strings.Builder
			r.Write(&out, 10)
			if tc.note != "" && !strings.Contains(out.String(), "note: "+tc.note) || tc.note == "" && strings.Contains(out.String(), "not judged") {
				t.Errorf("report does not say %q:\n%s", tc.note, out.String())
			}
			if strings.Contains(out.String(), "unexpected ") != r.Full {
				t.Errorf("report prints the unexpected row = %v, want %v:\n%s", !r.Full, r.Full, out.String())
			}
			if r.Skew.N != 1 || r.Skew.Max != time.Second {
				t.Errorf("skew %+v, want one sample of 1s", r.Skew)
			}
		})
	}

	snap := &Snapshot{Topic: "t", Messages: 9, Latest: latest, Malformed: malformed, Retained: spans(0, 4, 0, 9), Spans: spans(0, 4, 0, 9)}
	r := Compare(snap, docs, dl)
	r.Excuse(map[string]int{"stray": 1, "future": 4}, docs)
	if len(r.Unexpected) != 0 || len(r.Ahead) != 0 || r.Excused != 2 {
		t.Errorf("after Excuse: unexpected %v ahead %v excused %d", r.Unexpected, r.Ahead, r.Excused)
	}
	r.Recheck(snap, map[string]Doc{"gone": {Version: 1}, "old": {Version: 3}}, dl)
	if len(r.Missing)+len(r.Stale) != 0 || r.Differences() != 1 {
		t.Errorf("after Recheck: missing %v stale %v differences %d", r.Missing, r.Stale, r.Differences())
	}
	r.RecheckDLQ(&DeadLetters{Records: 3, Sources: map[Source]string{src("t", 1, 8): "late"}})
	if r.Differences() != 0 || r.DLQRecords != 3 {
		t.Errorf("after RecheckDLQ: malformed %v differences %d", r.MalformedNotInDLQ, r.Differences())
	}
}

// TestRecheckDeadLetteredLate: a valid order that Elasticsearch refuses is
// dead-lettered after verify's first DLQ read; -settle must then count it
// as dead-lettered, not missing (or stale) for ever.
func TestRecheckDeadLetteredLate(t *testing.T) {
	snap := &Snapshot{Topic: "t", Retained: spans(0, 9), Spans: spans(0, 9), Latest: map[string]Latest{
		"refused":        {Version: 1, Partition: 0, Offset: 3},
		"refused-update": {Version: 2, Partition: 0, Offset: 4},
		"slow":           {Version: 1, Partition: 0, Offset: 5},
		"lost":           {Version: 1, Partition: 0, Offset: 6},
	}}
	docs := map[string]Doc{"refused-update": {Version: 1}}
	r := Compare(snap, docs, &DeadLetters{Sources: map[Source]string{}})
	if want := []string{"lost", "refused", "slow"}; !slices.Equal(r.Missing, want) || len(r.Stale) != 1 {
		t.Fatalf("first pass: missing %v stale %v, want missing %v and refused-update stale", r.Missing, r.Stale, want)
	}

	// Next round: the consumer has dead-lettered "refused" and
	// "refused-update" and indexed "slow"; "lost" is still nowhere.
	later := &DeadLetters{Records: 2, Sources: map[Source]string{src("t", 0, 3): "mapping", src("t", 0, 4): "mapping"}}
	r.Recheck(snap, map[string]Doc{"slow": {Version: 1}, "refused-update": {Version: 1}}, later)
	if !slices.Equal(r.Missing, []string{"lost"}) || len(r.Stale) != 0 ||
		!slices.Equal(r.DeadLettered, []string{"refused", "refused-update"}) || r.Differences() != 1 {
		t.Errorf("after Recheck: missing %v stale %v dead %v differences %d", r.Missing, r.Stale, r.DeadLettered, r.Differences())
	}
	// A dead letter for an older offset of the order does not excuse it.
	r.Recheck(snap, nil, &DeadLetters{Sources: map[Source]string{src("t", 0, 2): "x", src("t", 1, 6): "y", src("u", 0, 6): "z"}})
	if !slices.Equal(r.Missing, []string{"lost"}) || len(r.DeadLettered) != 2 {
		t.Errorf("unrelated dead letters: missing %v dead %v", r.Missing, r.DeadLettered)
	}
}

// TestTickProgressStopWaits: once stop returns, no progress call is running
// or will run, so the caller's final 100% report is the last one.
func TestTickProgressStopWaits(t *testing.T) {
	var inFlight, calls atomic.Int32
	entered := make(chan struct{}, 1)
	progress := func(stage string, done, total int64) {
		if inFlight.Add(1) != 1 {
			t.Error("progress called concurrently")
		}
		if calls.Add(1) > 1 { // a tick, not the initial report
			select {
			case entered <- struct{}{}:
			default:
			}
			time.Sleep(50 * time.Millisecond)
		}
		inFlight.Add(-1)
	}
	var done atomic.Int64
	stop := tickProgress(progress, "kafka", &done, 10, time.Millisecond)
	<-entered // a tick is inside progress now
	stop()
	if inFlight.Load() != 0 {
		t.Fatal("stop returned while a progress call was still running")
	}
	n := calls.Load()
	time.Sleep(20 * time.Millisecond)
	if calls.Load() != n {
		t.Errorf("progress called %d times after stop", calls.Load()-n)
	}
	stop() // idempotent
	tickProgress(nil, "kafka", &done, 10, time.Millisecond)()
}

func TestPercentilesOf(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	got := PercentilesOf(ds)
	want := Percentiles{N: 100, P50: 50 * time.Millisecond, P90: 90 * time.Millisecond, P99: 99 * time.Millisecond, Max: 100 * time.Millisecond}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if PercentilesOf(nil) != (Percentiles{}) {
		t.Error("empty input must give zero percentiles")
	}
}
