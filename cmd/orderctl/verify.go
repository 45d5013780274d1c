package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/orderpipe/orderpipe/internal/elastic"
	"github.com/orderpipe/orderpipe/internal/kafka"
	"github.com/orderpipe/orderpipe/internal/reconcile"
	"github.com/orderpipe/orderpipe/internal/settings"
)

type verifyConfig struct {
	kafka.Config
	ESConfig
	kafka.TopicConfig
	kafka.DLQConfig
	elastic.TemplateConfig
}

const verifySummary = `verify reads the orders topic up to the end offsets captured at start (all of it, or
from -from-offset / -since), keeps each order's latest valid version and compares
it with the index: missing, stale (older version indexed), ahead (newer than Kafka
ever had), unexpected (indexed, never in Kafka), and malformed messages with no
record in the DLQ. Exit status: 0 no differences, 1 differences or error, 2 usage.`

func runVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg verifyConfig
	fs := newFlags("verify", verifySummary, &cfg, stdout)
	topic := fs.String("topic", "", "orders topic (default $KAFKA_TOPIC)")
	index := fs.String("index", "", "index to compare with (default $ES_INDEX)")
	dlq := fs.String("dlq-topic", "", "dead-letter topic (default $DLQ_TOPIC)")
	fromOffset := fs.Int64("from-offset", -1, "read every partition from this offset (default: the first retained)")
	since := fs.String("since", "", "read only messages appended since: a duration back from now (2h) or an RFC 3339 time")
	timeout := fs.Duration("timeout", 30*time.Minute, "give up after this long")
	settle := fs.Duration("settle", 0, "re-check missing and stale orders (in the index and the DLQ) and undead-lettered malformed messages for up to this long, for a consumer that is still catching up")
	examples := fs.Int("examples", 10, "example ids printed per class of difference")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := settings.Load(&cfg); err != nil {
		return err
	}
	if *topic != "" {
		cfg.Topic = *topic
	}
	if *index != "" {
		cfg.Index = *index
	}
	if *dlq != "" {
		cfg.DLQTopic = *dlq
	}
	rng := reconcile.Range{FromOffset: *fromOffset}
	if *since != "" {
		t, err := parseSince(*since, time.Now())
		if err != nil {
			return settings.Usage(fmt.Errorf("-since: %w", err))
		}
		rng.Since = t
	}
	switch {
	case *timeout <= 0:
		return settings.Usage(errors.New("-timeout must be positive"))
	case *examples < 0:
		return settings.Usage(errors.New("-examples must not be negative"))
	}
	// After the flags, which may have replaced the names.
	if err := cfg.TopicConfig.Validate(); err != nil {
		return settings.Usage(err)
	}
	if cfg.DLQTopic == "" {
		return settings.Usage(&settings.Error{Variable: "DLQ_TOPIC", Reason: "must not be empty"})
	}
	if err := cfg.Config.Validate(); err != nil {
		return settings.Usage(err)
	}
	if err := cfg.TemplateConfig.Validate(); err != nil {
		return settings.Usage(err)
	}
	_, tmpl, err := cfg.TemplateConfig.Load()
	if err != nil {
		return settings.Usage(err)
	}
	admin, err := kafka.NewAdmin(cfg.Config)
	if err != nil {
		return settings.Usage(err)
	}
	esc, err := elastic.New(cfg.ESConfig.Config)
	if err != nil {
		if errors.Is(err, settings.ErrInvalid) {
			return settings.Usage(err)
		}
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	// The consumer's rule: an index the template does not govern is a
	// setting to fix, whatever the comparison would find in it.
	if _, err := esc.CheckOrderIndex(ctx, tmpl); errors.Is(err, settings.ErrInvalid) {
		return settings.Usage(err)
	} else if errors.Is(err, elastic.ErrForbidden) {
		fmt.Fprintf(stderr, "verify: not allowed to read the mapping of %s; its mapping is not checked\n", cfg.Index)
	}
	start := time.Now()
	progress := stageProgress(stderr, func() bool { return time.Since(start) < 2*time.Second })
	rep, snap, err := compareAll(ctx, admin, esc, cfg, rng, progress)
	if err != nil {
		return err
	}
	if err := settleReport(ctx, rep, snap, admin, esc, cfg.DLQTopic, *settle, stderr); err != nil {
		return err
	}
	rep.Write(stdout, *examples)
	fmt.Fprintf(stdout, "took %s\n", time.Since(start).Round(time.Millisecond))
	if rep.Differences() > 0 {
		return errDifferences
	}
	return nil
}

// parseSince reads -since: a duration back from now, or an RFC 3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return time.Time{}, fmt.Errorf("%q must be positive", s)
		}
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil && ms > 0 {
		return time.UnixMilli(ms), nil
	}
	return time.Time{}, fmt.Errorf("%q is neither a duration (2h), an RFC 3339 time nor Unix milliseconds", s)
}

// settleReport re-checks what is still missing or stale (in the index and
// the DLQ) and malformed messages not dead-lettered yet, about once a
// second for up to settle, for a consumer that is still catching up.
func settleReport(ctx context.Context, rep *reconcile.Report, snap *reconcile.Snapshot, admin *kafka.Admin, esc *elastic.Client, dlqTopic string, settle time.Duration, stderr io.Writer) error {
	for deadline := time.Now().Add(settle); len(rep.Pending())+len(rep.MalformedNotInDLQ) > 0 && time.Now().Before(deadline); {
		fmt.Fprintf(stderr, "verify: %d orders missing or stale, %d malformed messages not in the DLQ yet, re-checking (settle until %s)\n",
			len(rep.Pending()), len(rep.MalformedNotInDLQ), deadline.Format(time.TimeOnly))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
		// The DLQ first: an order the consumer dead-letters after this
		// read is still missing from the index below, and is refiled on
		// the next round.
		dl, err := reconcile.ReadDLQ(ctx, admin, dlqTopic, nil)
		if err != nil {
			return fmt.Errorf("read %s: %w", dlqTopic, err)
		}
		rep.RecheckDLQ(dl)
		if len(rep.Pending()) > 0 {
			fresh, err := esc.Fetch(ctx, rep.Pending())
			if err != nil {
				return err
			}
			rep.Recheck(snap, fresh, dl)
		}
	}
	return nil
}

// compareAll reads the topic, the DLQ and the index once and compares them;
// differences a live producer explains (written after the snapshot) are
// excused.
func compareAll(ctx context.Context, admin *kafka.Admin, esc *elastic.Client, cfg verifyConfig, rng reconcile.Range, progress reconcile.Progress) (*reconcile.Report, *reconcile.Snapshot, error) {
	snap, err := reconcile.ReadTopic(ctx, admin, cfg.Topic, rng, progress)
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", cfg.Topic, err)
	}
	dl, err := reconcile.ReadDLQ(ctx, admin, cfg.DLQTopic, progress)
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", cfg.DLQTopic, err)
	}
	docs, exists, err := esc.Scan(ctx, func(done, total int64) { progress("elasticsearch", done, total) })
	if err != nil {
		return nil, nil, err
	}
	rep := reconcile.Compare(snap, docs, dl)
	rep.Index, rep.DLQTopic = cfg.Index, cfg.DLQTopic
	if !exists {
		rep.Notes = append(rep.Notes, "index "+cfg.Index+" does not exist")
	}
	if len(rep.Unexpected)+len(rep.Ahead) > 0 {
		// A live producer may have written these after the snapshot.
		later, err := reconcile.ReadAfter(ctx, admin, snap)
		if err != nil {
			return nil, nil, fmt.Errorf("read %s after the snapshot: %w", cfg.Topic, err)
		}
		rep.Excuse(later, docs)
	}
	return rep, snap, nil
}
