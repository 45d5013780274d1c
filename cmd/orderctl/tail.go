package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/orderpipe/orderpipe/internal/kafka"
	"github.com/orderpipe/orderpipe/internal/order"
	"github.com/orderpipe/orderpipe/internal/settings"
)

type tailConfig struct {
	kafka.Config
	kafka.TopicConfig
}

const tailSummary = `tail follows the orders topic live and prints one line per event (event time,
partition@offset, order id, version, status, customer, items, total) or, with -json,
the raw document. Malformed messages are printed as lines starting with "!! malformed".
Without -group it reads every partition directly and commits nothing; with -group it
joins that consumer group and commits what it has read. Ctrl-C stops it cleanly.`

// tailFilter decides which valid orders are printed.
type tailFilter struct {
	statuses map[order.Status]bool // empty: all
	minTotal float64
}

func (f tailFilter) keep(o *order.Order) bool {
	if len(f.statuses) > 0 && !f.statuses[o.Status] {
		return false
	}
	return o.Total >= f.minTotal
}

func runTail(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg tailConfig
	fs := newFlags("tail", tailSummary, &cfg, stdout)
	topic := fs.String("topic", "", "topic to follow (default $KAFKA_TOPIC)")
	group := fs.String("group", "", "consumer group to join and commit in (default: none, read all partitions directly)")
	from := fs.String("from", "latest", "where to start without committed offsets: earliest or latest")
	statuses := fs.String("status", "", "only these statuses, comma-separated (created,paid,shipped,delivered,cancelled)")
	minTotal := fs.Float64("min-total", 0, "only orders with at least this total")
	asJSON := fs.Bool("json", false, "print each message's JSON document instead of a summary line")
	maxEvents := fs.Int("max", 0, "stop after printing this many events (0: run until Ctrl-C)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := settings.Load(&cfg); err != nil {
		return err
	}
	if *topic != "" {
		cfg.Topic = *topic
	}
	if err := cfg.TopicConfig.Validate(); err != nil { // after -topic, which may have replaced it
		return settings.Usage(err)
	}
	if err := cfg.Config.Validate(); err != nil {
		return settings.Usage(err)
	}
	if *from != "earliest" && *from != "latest" {
		return settings.Usage(fmt.Errorf("-from: %q is not earliest or latest", *from))
	}
	if *maxEvents < 0 {
		return settings.Usage(errors.New("-max must not be negative"))
	}
	filter, err := newTailFilter(*statuses, *minTotal)
	if err != nil {
		return settings.Usage(err)
	}

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	// Whatever way runTail returns, the readers it started are stopped
	// first and waited for, so none outlives it.
	defer wg.Wait()
	defer cancel()
	msgs := make(chan kafkago.Message)
	errc := make(chan error, 1)
	var commit func(context.Context, ...kafkago.Message) error
	if *group == "" {
		if err := readPartitions(ctx, cfg, *from == "earliest", msgs, errc, &wg); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "tail: following %s from %s (all partitions, no group)\n", cfg.Topic, *from)
	} else {
		r, err := readGroup(ctx, cfg, *group, *from == "earliest", msgs, errc, &wg)
		if err != nil {
			return err
		}
		commit = r.CommitMessages
		fmt.Fprintf(stderr, "tail: following %s in group %s (from %s when the group has no offsets)\n", cfg.Topic, *group, *from)
	}

	return follow(ctx, msgs, errc, commit, *maxEvents, func(m kafkago.Message) bool {
		return printEvent(stdout, m, filter, *asJSON)
	})
}

// printEvent prints m if it passes the filter (malformed messages always
// pass) and reports whether it printed.
func printEvent(w io.Writer, m kafkago.Message, f tailFilter, asJSON bool) bool {
	o, err := order.Decode(m.Value)
	if err != nil && errors.Is(err, order.ErrMalformed) || err != nil && o.OrderID == "" {
		fmt.Fprintf(w, "!! malformed p%d@%d key=%q: %v: %q\n", m.Partition, m.Offset, m.Key, err, truncate(m.Value, 120))
		return true
	}
	if err != nil {
		fmt.Fprintf(w, "!! invalid   p%d@%d %s v%d: %v\n", m.Partition, m.Offset, o.OrderID, o.Version, err)
		return true
	}
	if !f.keep(&o) {
		return false
	}
	if asJSON {
		// One document per line: Decode accepted it, so it compacts.
		var b bytes.Buffer
		if json.Compact(&b, m.Value) != nil {
			b.Reset()
			b.Write(bytes.TrimSpace(m.Value))
		}
		b.WriteByte('\n')
		_, _ = w.Write(b.Bytes()) // as the Fprintf below: a closed stdout ends tail through its context, not here
		return true
	}
	fmt.Fprintf(w, "%s  p%d@%-6d %s  v%d %-9s  %s (%s)  %d items  %.2f %s\n",
		o.UpdatedAt.UTC().Format("2006-01-02T15:04:05.000Z"), m.Partition, m.Offset, o.OrderID, o.Version, o.Status,
		o.Customer.Name, o.Customer.ID, o.ItemCount, o.Total, o.Currency)
	return true
}

// seekReader positions a partition reader; tests replace it to fail.
var seekReader = func(r *kafkago.Reader, offset int64) error { return r.SetOffset(offset) }

// readPartitions reads every partition directly from its first or end
// offset, captured now, so "latest" means exactly what follows this call.
// Every reader is created and positioned before any goroutine starts, so a
// failure part way leaves nothing running.
func readPartitions(ctx context.Context, cfg tailConfig, earliest bool, out chan<- kafkago.Message, errc chan<- error, wg *sync.WaitGroup) error {
	admin, err := kafka.NewAdmin(cfg.Config)
	if err != nil {
		return err
	}
	ranges, err := admin.Offsets(ctx, cfg.Topic)
	if err != nil {
		return err
	}
	readers := make([]*kafkago.Reader, 0, len(ranges))
	closeAll := func() {
		for _, r := range readers {
			r.Close()
		}
	}
	for _, pr := range ranges {
		r, err := kafka.NewPartitionReader(cfg.Config, cfg.Topic, pr.Partition, 4<<20)
		if err != nil {
			closeAll()
			return err
		}
		readers = append(readers, r)
		start := pr.End
		if earliest {
			start = pr.First
		}
		if err := seekReader(r, start); err != nil {
			closeAll()
			return fmt.Errorf("seek %s/%d: %w", cfg.Topic, pr.Partition, err)
		}
	}
	for _, r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.Close()
			pump(ctx, r.ReadMessage, out, errc)
		}()
	}
	return nil
}

// readGroup joins group and fetches without committing; the caller commits
// what it has handled.
func readGroup(ctx context.Context, cfg tailConfig, group string, earliest bool, out chan<- kafkago.Message, errc chan<- error, wg *sync.WaitGroup) (*kafkago.Reader, error) {
	r, err := kafka.NewTailReader(cfg.Config, cfg.Topic, group, earliest)
	if err != nil {
		return nil, err
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer r.Close()
		pump(ctx, r.FetchMessage, out, errc)
	}()
	return r, nil
}

func pump(ctx context.Context, read func(context.Context) (kafkago.Message, error), out chan<- kafkago.Message, errc chan<- error) {
	for {
		m, err := read(ctx)
		if err != nil {
			if ctx.Err() == nil {
				select {
				case errc <- fmt.Errorf("read: %w", kafka.ConnectError(err)): // a group reader meets the listener here first
				default:
				}
			}
			return
		}
		select {
		case out <- m:
		case <-ctx.Done():
			return
		}
	}
}

// newTailFilter reads -status (comma-separated) and -min-total.
func newTailFilter(statuses string, minTotal float64) (tailFilter, error) {
	filter := tailFilter{statuses: map[order.Status]bool{}, minTotal: minTotal}
	for _, s := range strings.Split(statuses, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		st := order.Status(s)
		if !slices.Contains(order.Statuses, st) {
			return filter, fmt.Errorf("-status: %q is not one of %v", s, order.Statuses)
		}
		filter.statuses[st] = true
	}
	return filter, nil
}

// follow prints (through show, which reports whether the message passed
// the filter) and commits what the readers deliver until ctx ends, a reader
// fails, or maxEvents (when > 0) were printed.
func follow(ctx context.Context, msgs <-chan kafkago.Message, errc <-chan error, commit func(context.Context, ...kafkago.Message) error, maxEvents int, show func(kafkago.Message) bool) error {
	printed := 0
	for {
		select {
		case <-ctx.Done():
			return nil // Ctrl-C: a clean stop
		case err := <-errc:
			return err
		case m := <-msgs:
			shown := show(m)
			if commit != nil {
				// Commit only what was handled; the reader batches
				// commits and flushes them when it closes.
				if err := commit(ctx, m); err != nil && ctx.Err() == nil {
					return fmt.Errorf("commit: %w", err)
				}
			}
			if !shown {
				continue
			}
			printed++
			if maxEvents > 0 && printed >= maxEvents {
				return nil
			}
		}
	}
}
