// Package reconcile proves that nothing was lost between Kafka and
// Elasticsearch: it reads the orders topic up to a fixed point, keeps each
// order's latest valid version, scans the index and the dead-letter topic,
// and names every order that is missing, stale, ahead or unexpected in the
// index, and every malformed message that did not reach the DLQ.
//
// `orderctl verify` is the command-line face of this package; the fault
// tests call it directly.
package reconcile

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"
)

// Diff is an order whose indexed version is not Kafka's latest.
type Diff struct {
	ID           string
	KafkaVersion int
	IndexVersion int64
}

// Report is the outcome of a reconciliation.
type Report struct {
	Topic, Index, DLQTopic string
	// Full is false when only part of the topic was read: orders older than
	// the range are then legitimately in the index, so Unexpected and Ahead
	// are not judged.
	Full bool

	KafkaMessages int64
	KafkaOrders   int
	IndexDocs     int
	Malformed     int
	DLQRecords    int64

	Missing    []string // in Kafka, not in the index
	Stale      []Diff   // the index holds an older version
	Ahead      []Diff   // the index holds a newer version than Kafka ever had
	Unexpected []string // in the index, never in Kafka
	// MalformedNotInDLQ are malformed messages with no DLQ record pointing at them.
	MalformedNotInDLQ []Malformed
	// DeadLettered are valid orders whose latest version is missing or
	// stale in the index but was dead-lettered (e.g. refused by the
	// mapping): accounted for, not lost.
	DeadLettered []string
	// Excused are index documents newer than the snapshot that a second
	// read of Kafka found produced after it.
	Excused int

	// Skew is event time (updated_at) to Kafka append time of each
	// order's latest version. See LatencyNote.
	Skew Percentiles

	Notes []string
}

// LatencyNote says why verify reports skew and not produced-to-indexed
// latency.
const LatencyNote = "produced→indexed latency is not measurable here: a document's _source is the Kafka message byte for byte and the strict mapping has no ingest-time field, so Elasticsearch keeps no index time; the skew above is updated_at → Kafka append time of each order's latest version (large for backfilled history)"

// Differences counts every class that means data was lost or is wrong.
func (r *Report) Differences() int {
	return len(r.Missing) + len(r.Stale) + len(r.Ahead) + len(r.Unexpected) + len(r.MalformedNotInDLQ)
}

// Compare reconciles a Kafka snapshot with an index scan and the DLQ.
// Unexpected and ahead documents are judged only when the snapshot read
// every message the topic ever held (see Coverage); otherwise the report
// says why not.
func Compare(snap *Snapshot, docs map[string]Doc, dl *DeadLetters) *Report {
	full, why := Coverage(snap.Retained, snap.Spans)
	r := &Report{
		Topic: snap.Topic, Full: full,
		KafkaMessages: snap.Messages, KafkaOrders: len(snap.Latest), IndexDocs: len(docs),
		Malformed: len(snap.Malformed), DLQRecords: dl.Records,
	}
	r.Notes = append(r.Notes, snap.Short...)
	r.Notes = append(r.Notes, dl.Short...)
	if dl.Unreadable > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("%d DLQ records carry no usable source headers", dl.Unreadable))
	}
	var skews []time.Duration
	for id, k := range snap.Latest {
		if !k.Produced.IsZero() && !k.UpdatedAt.IsZero() {
			skews = append(skews, k.Produced.Sub(k.UpdatedAt))
		}
		d, ok := docs[id]
		r.judge(snap.Topic, id, k, d, ok, dl, full)
	}
	if full {
		for id := range docs {
			if _, ok := snap.Latest[id]; !ok {
				r.Unexpected = append(r.Unexpected, id)
			}
		}
	} else {
		r.Notes = append(r.Notes, why)
	}
	for _, m := range snap.Malformed {
		if _, ok := dl.Sources[m.Source]; !ok {
			r.MalformedNotInDLQ = append(r.MalformedNotInDLQ, m)
		}
	}
	r.Skew = PercentilesOf(skews)
	r.sort()
	return r
}

// judge files order id, whose latest Kafka version is k, by what the index
// holds (d, when found): a missing or stale order whose latest message was
// dead-lettered is accounted for, not lost. Ahead is judged only when full.
func (r *Report) judge(topic, id string, k Latest, d Doc, found bool, dl *DeadLetters, full bool) {
	behind := !found || d.Version < int64(k.Version)
	if behind && dl != nil {
		if _, dead := dl.Sources[Source{Topic: topic, Partition: k.Partition, Offset: k.Offset}]; dead {
			r.DeadLettered = append(r.DeadLettered, id)
			return
		}
	}
	switch {
	case !found:
		r.Missing = append(r.Missing, id)
	case d.Version < int64(k.Version):
		r.Stale = append(r.Stale, Diff{ID: id, KafkaVersion: k.Version, IndexVersion: d.Version})
	case d.Version > int64(k.Version) && full:
		r.Ahead = append(r.Ahead, Diff{ID: id, KafkaVersion: k.Version, IndexVersion: d.Version})
	}
}

// Excuse drops Unexpected and Ahead documents that later holds at the same
// or a higher version: they were produced after the snapshot.
func (r *Report) Excuse(later map[string]int, docs map[string]Doc) {
	keepIDs := r.Unexpected[:0]
	for _, id := range r.Unexpected {
		if v, ok := later[id]; ok && int64(v) >= docs[id].Version {
			r.Excused++
			continue
		}
		keepIDs = append(keepIDs, id)
	}
	r.Unexpected = keepIDs
	keep := r.Ahead[:0]
	for _, d := range r.Ahead {
		if v, ok := later[d.ID]; ok && int64(v) >= d.IndexVersion {
			r.Excused++
			continue
		}
		keep = append(keep, d)
	}
	r.Ahead = keep
}

// Recheck replaces the index's and the DLQ's answers for missing and stale
// orders with fresh ones and refiles them by the same rule as Compare: an
// order the consumer dead-lettered since (e.g. refused by the mapping) is
// accounted for, not missing. dl may be nil when the DLQ was not read again.
func (r *Report) Recheck(snap *Snapshot, fresh map[string]Doc, dl *DeadLetters) {
	ids := r.Pending()
	r.Missing, r.Stale = nil, nil
	for _, id := range ids {
		d, ok := fresh[id]
		r.judge(snap.Topic, id, snap.Latest[id], d, ok, dl, false)
	}
	r.sort()
}

// RecheckDLQ recomputes MalformedNotInDLQ against a fresh read of the DLQ,
// for a consumer that has not dead-lettered the newest messages yet.
func (r *Report) RecheckDLQ(dl *DeadLetters) {
	r.DLQRecords = dl.Records
	keep := r.MalformedNotInDLQ[:0]
	for _, m := range r.MalformedNotInDLQ {
		if _, ok := dl.Sources[m.Source]; !ok {
			keep = append(keep, m)
		}
	}
	r.MalformedNotInDLQ = keep
}

// Pending lists the ids a consumer catching up could still fix.
func (r *Report) Pending() []string {
	ids := slices.Clone(r.Missing)
	for _, d := range r.Stale {
		ids = append(ids, d.ID)
	}
	return ids
}

func (r *Report) sort() {
	sort.Strings(r.Missing)
	sort.Strings(r.Unexpected)
	sort.Strings(r.DeadLettered)
	byID := func(a, b Diff) int { return strings.Compare(a.ID, b.ID) }
	slices.SortFunc(r.Stale, byID)
	slices.SortFunc(r.Ahead, byID)
	slices.SortFunc(r.MalformedNotInDLQ, func(a, b Malformed) int {
		if a.Partition != b.Partition {
			return a.Partition - b.Partition
		}
		return int(a.Offset - b.Offset)
	})
}

// Write prints the summary and up to examples ids per class.
func (r *Report) Write(w io.Writer, examples int) {
	fmt.Fprintf(w, "kafka   %s: %d messages, %d orders, %d malformed\n", r.Topic, r.KafkaMessages, r.KafkaOrders, r.Malformed)
	fmt.Fprintf(w, "index   %s: %d documents\n", r.Index, r.IndexDocs)
	fmt.Fprintf(w, "dlq     %s: %d records\n", r.DLQTopic, r.DLQRecords)
	row := func(name string, n int, ex []string) {
		fmt.Fprintf(w, "%-22s %d", name, n)
		if n > 0 {
			fmt.Fprintf(w, "  e.g. %s", strings.Join(ex, ", "))
			if n > len(ex) {
				fmt.Fprintf(w, ", … (%d more)", n-len(ex))
			}
		}
		fmt.Fprintln(w)
	}
	head := func(n int) int { return min(n, examples) }
	ids := func(s []string) []string { return s[:head(len(s))] }
	diffs := func(s []Diff) []string {
		out := make([]string, 0, head(len(s)))
		for _, d := range s[:head(len(s))] {
			out = append(out, fmt.Sprintf("%s (kafka v%d, index v%d)", d.ID, d.KafkaVersion, d.IndexVersion))
		}
		return out
	}
	var mal []string
	for _, m := range r.MalformedNotInDLQ[:head(len(r.MalformedNotInDLQ))] {
		mal = append(mal, m.Source.String())
	}
	row("missing", len(r.Missing), ids(r.Missing))
	row("stale", len(r.Stale), diffs(r.Stale))
	if r.Full {
		row("ahead", len(r.Ahead), diffs(r.Ahead))
		row("unexpected", len(r.Unexpected), ids(r.Unexpected))
	}
	row("malformed not in DLQ", len(r.MalformedNotInDLQ), mal)
	if len(r.DeadLettered) > 0 {
		row("dead-lettered (ok)", len(r.DeadLettered), ids(r.DeadLettered))
	}
	if r.Excused > 0 {
		fmt.Fprintf(w, "%-22s %d (produced after the snapshot)\n", "newer (ok)", r.Excused)
	}
	if r.Skew.N > 0 {
		fmt.Fprintf(w, "skew updated_at→kafka  p50 %s  p90 %s  p99 %s  max %s  (n=%d)\n",
			round(r.Skew.P50), round(r.Skew.P90), round(r.Skew.P99), round(r.Skew.Max), r.Skew.N)
	}
	fmt.Fprintf(w, "note: %s\n", LatencyNote)
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	if d := r.Differences(); d == 0 {
		fmt.Fprintln(w, "OK: no differences")
	} else {
		fmt.Fprintf(w, "FAIL: %d differences\n", d)
	}
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Minute || d <= -time.Minute:
		return d.Round(time.Second)
	case d >= time.Second || d <= -time.Second:
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Microsecond)
}

// Percentiles summarises a set of durations (nearest-rank).
type Percentiles struct {
	N                  int
	P50, P90, P99, Max time.Duration
}

// PercentilesOf computes nearest-rank percentiles; it sorts ds.
func PercentilesOf(ds []time.Duration) Percentiles {
	if len(ds) == 0 {
		return Percentiles{}
	}
	slices.Sort(ds)
	at := func(p float64) time.Duration {
		i := int(p*float64(len(ds))+0.999999) - 1
		return ds[min(max(i, 0), len(ds)-1)]
	}
	return Percentiles{N: len(ds), P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: ds[len(ds)-1]}
}
