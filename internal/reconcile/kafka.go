package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"

	"github.com/orderpipe/orderpipe/internal/deadletter"
	"github.com/orderpipe/orderpipe/internal/kafka"
	"github.com/orderpipe/orderpipe/internal/order"
)

// Range limits which part of the topic is read. The zero Range reads all of
// what is retained. FromOffset (when >= 0) and Since both move each
// partition's start forward; the end is always the high watermark captured
// when reading starts.
type Range struct {
	FromOffset int64 // -1 or less: from the first retained offset
	Since      time.Time
}

// Coverage says whether a read saw every message the topic ever held, and
// if not, why not. Only a full read can judge index documents that Kafka has
// no message for (unexpected) or a newer version of (ahead): after a partial
// range or retention, those are orders whose messages were not read.
func Coverage(retained, read []kafka.PartitionRange) (full bool, why string) {
	var expired []string
	partial := false
	for i, r := range read {
		if i < len(retained) && retained[i].First > 0 {
			expired = append(expired, fmt.Sprintf("%d from %d", retained[i].Partition, retained[i].First))
		}
		if r.First > 0 && (i >= len(retained) || r.First > retained[i].First) {
			partial = true
		}
	}
	switch {
	case partial:
		return false, "partial range: documents of orders outside the range are not judged (no unexpected/ahead check)"
	case len(expired) > 0:
		const show = 3
		ex := strings.Join(expired[:min(len(expired), show)], ", ")
		if len(expired) > show {
			ex += ", …"
		}
		return false, fmt.Sprintf("retention: %d of %d partitions no longer hold their oldest messages (partition %s): documents of orders whose messages expired are not judged (no unexpected/ahead check)", len(expired), len(read), ex)
	}
	return true, ""
}

// Latest is the newest valid version of an order seen in Kafka.
type Latest struct {
	Version   int
	UpdatedAt time.Time
	Produced  time.Time // the Kafka message timestamp
	Partition int
	Offset    int64
}

// Malformed is a message that order.Decode refused.
type Malformed struct {
	Source
	Key    string
	Reason string
}

// Snapshot is what a topic held between Start and End offsets.
type Snapshot struct {
	Topic string
	Spans []kafka.PartitionRange // per partition: First = where reading started, End = where it stopped
	// Retained is, per partition, the first offset the broker still held
	// and the end captured when reading started.
	Retained  []kafka.PartitionRange
	Messages  int64
	Latest    map[string]Latest
	Malformed []Malformed
	// Short lists partitions that ended before their captured end (a
	// gap the broker never served, e.g. transaction markers).
	Short []string
}

// Progress is told, at most about once a second, how far a stage is.
// total is -1 when unknown.
type Progress func(stage string, done, total int64)

// idleEnd is how long a partition may serve nothing before reading it stops
// short of its captured end.
var idleEnd = 10 * time.Second

// ReadTopic reads topic over rng up to the end offsets captured when it
// starts, and keeps each order's latest valid version.
func ReadTopic(ctx context.Context, admin *kafka.Admin, topic string, rng Range, progress Progress) (*Snapshot, error) {
	ranges, err := admin.Offsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	retained := slices.Clone(ranges)
	if rng.FromOffset > 0 {
		for i := range ranges {
			ranges[i].First = min(max(ranges[i].First, rng.FromOffset), ranges[i].End)
		}
	}
	if !rng.Since.IsZero() {
		at, err := admin.OffsetsAt(ctx, topic, len(ranges), rng.Since)
		if err != nil {
			return nil, err
		}
		for i := range ranges {
			if o := at[ranges[i].Partition]; o < 0 {
				ranges[i].First = ranges[i].End
			} else {
				ranges[i].First = min(max(ranges[i].First, o), ranges[i].End)
			}
		}
	}
	snap := &Snapshot{Topic: topic, Retained: retained, Latest: make(map[string]Latest)}
	err = readSpans(ctx, admin.Config(), topic, ranges, "kafka", progress, func(m kafkago.Message) {
		snap.Messages++
		o, err := order.Decode(m.Value)
		if err != nil {
			snap.Malformed = append(snap.Malformed, Malformed{
				Source: Source{Topic: topic, Partition: m.Partition, Offset: m.Offset},
				Key:    string(m.Key), Reason: err.Error(),
			})
			return
		}
		if cur, ok := snap.Latest[o.OrderID]; !ok || o.Version > cur.Version {
			snap.Latest[o.OrderID] = Latest{Version: o.Version, UpdatedAt: o.UpdatedAt, Produced: m.Time, Partition: m.Partition, Offset: m.Offset}
		}
	}, &snap.Short)
	snap.Spans = ranges
	return snap, err
}

// Full reports whether the snapshot read every message the topic ever held
// (see Coverage).
func (s *Snapshot) Full() bool {
	full, _ := Coverage(s.Retained, s.Spans)
	return full
}

// readSpans reads every span concurrently and hands each message to fn,
// one at a time.
func readSpans(ctx context.Context, cfg kafka.Config, topic string, spans []kafka.PartitionRange, stage string, progress Progress, fn func(kafkago.Message), short *[]string) error {
	var total int64
	for _, s := range spans {
		total += s.Len()
	}
	var done atomic.Int64
	var mu sync.Mutex
	stopTicking := tickProgress(progress, stage, &done, total, progressEvery)
	defer stopTicking() // on every return; a second call is a no-op
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, s := range spans {
		if s.Len() <= 0 {
			continue
		}
		g.Go(func() error {
			r, err := kafka.NewPartitionReader(cfg, topic, s.Partition, 8<<20)
			if err != nil {
				return err
			}
			defer r.Close()
			if err := r.SetOffset(s.First); err != nil {
				return fmt.Errorf("seek %s/%d: %w", topic, s.Partition, err)
			}
			for next := s.First; next < s.End; {
				rctx, cancel := context.WithTimeout(gctx, idleEnd)
				m, err := r.FetchMessage(rctx)
				cancel()
				if err != nil {
					if gctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
						mu.Lock()
						*short = append(*short, fmt.Sprintf("%s/%d stopped at offset %d of %d: nothing more served for %s", topic, s.Partition, next, s.End, idleEnd))
						mu.Unlock()
						return nil
					}
					return fmt.Errorf("read %s/%d: %w", topic, s.Partition, err)
				}
				if m.Offset >= s.End {
					break
				}
				done.Add(m.Offset + 1 - next)
				next = m.Offset + 1
				mu.Lock()
				fn(m)
				mu.Unlock()
			}
			return nil
		})
	}
	err := g.Wait()
	stopTicking() // no tick may run during or after the final report
	if progress != nil && err == nil {
		progress(stage, total, total)
	}
	return err
}

// progressEvery is how often readSpans reports progress.
var progressEvery = time.Second

// tickProgress reports (stage, 0, total) now, then done every interval
// from a goroutine of its own. The returned stop ends that goroutine and
// returns only once it has, so no report runs after stop; calling stop
// again is a no-op. A nil progress starts nothing.
func tickProgress(progress Progress, stage string, done *atomic.Int64, total int64, every time.Duration) (stop func()) {
	if progress == nil {
		return func() {}
	}
	progress(stage, 0, total)
	quit := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				progress(stage, done.Load(), total)
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(quit) })
		<-exited
	}
}

// DeadLetters is what the DLQ topic says about the source topic.
type DeadLetters struct {
	Records int64
	Sources map[Source]string // source message -> the consumer's reason
	// Unreadable counts records without valid source headers.
	Unreadable int
	Short      []string
}

// ReadDLQ reads the whole dead-letter topic and indexes its records by the
// source message they stand for. A DLQ topic that does not exist is empty.
func ReadDLQ(ctx context.Context, admin *kafka.Admin, dlqTopic string, progress Progress) (*DeadLetters, error) {
	dl := &DeadLetters{Sources: make(map[Source]string)}
	if _, exists, err := admin.TopicPartitions(ctx, dlqTopic); err != nil {
		return nil, fmt.Errorf("look up %s: %w", dlqTopic, err)
	} else if !exists {
		return dl, nil
	}
	ranges, err := admin.Offsets(ctx, dlqTopic)
	if err != nil {
		return nil, err
	}
	err = readSpans(ctx, admin.Config(), dlqTopic, ranges, "dlq", progress, func(m kafkago.Message) {
		dl.Records++
		src, reason, err := deadletter.ParseDLQHeaders(m.Headers)
		if err != nil {
			dl.Unreadable++
			return
		}
		dl.Sources[src] = reason
	}, &dl.Short)
	return dl, err
}

// ReadAfter reads what was appended to topic after a snapshot's spans ended,
// up to the current end, and returns the highest version of each order id.
// A verify of a live pipeline uses it to excuse documents that were produced
// and indexed after the snapshot was taken.
func ReadAfter(ctx context.Context, admin *kafka.Admin, snap *Snapshot) (map[string]int, error) {
	now, err := admin.Offsets(ctx, snap.Topic)
	if err != nil {
		return nil, err
	}
	ends := make(map[int]int64, len(snap.Spans))
	for _, s := range snap.Spans {
		ends[s.Partition] = s.End
	}
	var spans []kafka.PartitionRange
	for _, r := range now {
		start, ok := ends[r.Partition]
		if !ok { // a partition added since
			start = r.First
		}
		if r.End > start {
			spans = append(spans, kafka.PartitionRange{Partition: r.Partition, First: start, End: r.End})
		}
	}
	later := make(map[string]int)
	var short []string
	err = readSpans(ctx, admin.Config(), snap.Topic, spans, "kafka-tail", nil, func(m kafkago.Message) {
		if o, err := order.Decode(m.Value); err == nil && o.Version > later[o.OrderID] {
			later[o.OrderID] = o.Version
		}
	}, &short)
	return later, err
}
