package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	kafkago "github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"

	"github.com/orderpipe/orderpipe/internal/deadletter"
	"github.com/orderpipe/orderpipe/internal/elastic"
	"github.com/orderpipe/orderpipe/internal/kafka"
	"github.com/orderpipe/orderpipe/internal/order"
)

// Fetcher is the consumer-group side of Kafka; *kafkago.Reader with a
// GroupID and CommitInterval 0 implements it.
type Fetcher interface {
	FetchMessage(ctx context.Context) (kafkago.Message, error)
	CommitMessages(ctx context.Context, msgs ...kafkago.Message) error
}

// Indexer stores documents; *elastic.Client implements it. Bulk returns one
// outcome per doc, or an error when the request as a whole failed.
type Indexer interface {
	Bulk(ctx context.Context, docs []elastic.Doc) ([]elastic.Outcome, error)
}

// DeadLetters writes messages to the dead-letter topic and returns nil only
// once Kafka acknowledged all of them.
type DeadLetters interface {
	WriteDeadLetters(ctx context.Context, msgs []kafkago.Message) error
}

// Config tunes the pipeline.
type Config struct {
	// BulkSize and BulkBytes bound one batch: the messages fetched before
	// they are handled together and committed. BulkSize is required: it is
	// the program's setting (cmd/consumer's BULK_SIZE), with no second
	// default here to drift from it.
	BulkSize  int
	BulkBytes int
	// FlushInterval is the longest a batch waits to fill once it has a
	// first message.
	FlushInterval time.Duration
	// Workers is how many _bulk requests one batch is split into, sent
	// concurrently.
	Workers int
	// DrainTimeout is how long the batch in flight may still finish after
	// Run's context ends; what is not handled by then is abandoned,
	// uncommitted.
	DrainTimeout time.Duration
	// CommitTimeout bounds one CommitMessages call.
	CommitTimeout time.Duration
	// RetryInitial and RetryMax bound the backoff between retries of
	// documents Elasticsearch did not take.
	RetryInitial time.Duration
	RetryMax     time.Duration
	// ProgressInterval is how often a progress line is logged (0: never).
	ProgressInterval time.Duration
}

func (c *Config) setDefaults() {
	if c.BulkBytes <= 0 {
		c.BulkBytes = 5 << 20
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = time.Second
	}
	if c.Workers <= 0 {
		c.Workers = 1
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 10 * time.Second
	}
	if c.CommitTimeout <= 0 {
		c.CommitTimeout = 10 * time.Second
	}
	if c.RetryInitial <= 0 {
		c.RetryInitial = 200 * time.Millisecond
	}
	if c.RetryMax <= 0 {
		c.RetryMax = 10 * time.Second
	}
}

// Stats are cumulative counts since New.
type Stats struct {
	Consumed, Indexed, Conflicts, Superseded, DeadLettered, Retries, Committed, CommitFailures int64
}

// Pipeline moves one consumer group member's messages into Elasticsearch.
type Pipeline struct {
	cfg     Config
	fetch   Fetcher
	index   Indexer
	dlq     DeadLetters
	log     *slog.Logger
	metrics *Metrics
	health  *Health
	now     func() time.Time

	consumed, indexed, conflicts, superseded, deadLettered, retries, committed, commitFailures atomic.Int64
}

// Options are the pipeline's optional collaborators.
type Options struct {
	Log     *slog.Logger
	Metrics *Metrics // nil: unregistered series
	Health  *Health  // nil: readiness is not reported
	Now     func() time.Time
}

// New returns a pipeline; Run starts it. It panics when cfg.BulkSize is not
// positive: that is a bug in the caller, not a setting to guess.
func New(cfg Config, f Fetcher, ix Indexer, dl DeadLetters, opt Options) *Pipeline {
	if cfg.BulkSize <= 0 {
		panic(fmt.Sprintf("pipeline.New: Config.BulkSize %d is not positive", cfg.BulkSize))
	}
	cfg.setDefaults()
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Metrics == nil {
		opt.Metrics = NewMetrics(nil)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Pipeline{cfg: cfg, fetch: f, index: ix, dlq: dl, log: opt.Log, metrics: opt.Metrics, health: opt.Health, now: opt.Now}
}

// Stats returns the counts so far.
func (p *Pipeline) Stats() Stats {
	return Stats{
		Consumed: p.consumed.Load(), Indexed: p.indexed.Load(), Conflicts: p.conflicts.Load(),
		Superseded: p.superseded.Load(), DeadLettered: p.deadLettered.Load(), Retries: p.retries.Load(),
		Committed: p.committed.Load(), CommitFailures: p.commitFailures.Load(),
	}
}

// Run fetches, handles and commits batches until ctx ends. Then it stops
// fetching, gives the batch in flight DrainTimeout to finish, commits what
// is handled and returns nil. It returns an error when the Fetcher is closed
// or fails for good, or when a message cannot be handled for good (its dead
// letter cannot be written: kafka.ErrPermanent). Then nothing at or after
// that message is committed, and the error names its topic, partition and
// offset: whoever runs the pipeline again (a restarted consumer, the
// partition's next owner) gets it delivered again. A Fetcher whose Run
// returned such an error has fetched past uncommitted messages and must not
// be used for another Run.
func (p *Pipeline) Run(ctx context.Context) error {
	// Work in flight outlives ctx by at most DrainTimeout, so SIGTERM does
	// not throw away a bulk request that is about to succeed.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(p.cfg.DrainTimeout, cancelWork)
		context.AfterFunc(work, func() { t.Stop() })
	})
	defer stop()

	var g errgroup.Group
	progressCtx, stopProgress := context.WithCancel(ctx)
	if p.cfg.ProgressInterval > 0 {
		g.Go(func() error { p.logProgress(progressCtx); return nil })
	}
	err := p.loop(ctx, work)
	stopProgress()
	_ = g.Wait()
	return err
}

func (p *Pipeline) loop(ctx, work context.Context) error {
	fetchBackoff := newBackoff(p.cfg.RetryInitial, p.cfg.RetryMax)
	for ctx.Err() == nil {
		batch, err := p.fetchBatch(ctx)
		if len(batch) > 0 {
			if err := p.handleAndCommit(work, batch); err != nil {
				return err
			}
		}
		switch {
		case err == nil:
			fetchBackoff.Reset()
			p.health.Set("kafka-fetch", "")
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, io.EOF):
			return fmt.Errorf("fetch messages: reader closed: %w", err)
		default:
			wait := fetchBackoff.NextBackOff()
			p.health.Set("kafka-fetch", "kafka unavailable: "+err.Error()+"; retrying")
			p.log.Warn("fetch failed, retrying", "error", err.Error(), "retry_in", wait.String())
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(wait):
			}
		}
	}
	return nil
}

// fetchBatch blocks for a first message, then collects more until BulkSize,
// BulkBytes or FlushInterval. A message fetched but not returned would be
// skipped by the commit of later ones, so every fetched message is returned.
func (p *Pipeline) fetchBatch(ctx context.Context) ([]kafkago.Message, error) {
	first, err := p.fetch.FetchMessage(ctx)
	if err != nil {
		return nil, err
	}
	batch := make([]kafkago.Message, 1, p.cfg.BulkSize)
	batch[0] = first
	size := len(first.Value)
	fctx, cancel := context.WithTimeout(ctx, p.cfg.FlushInterval)
	defer cancel()
	for len(batch) < p.cfg.BulkSize && size < p.cfg.BulkBytes {
		m, err := p.fetch.FetchMessage(fctx)
		if err != nil {
			if fctx.Err() != nil {
				return batch, nil // flush interval or shutdown: handle what we have
			}
			return batch, err
		}
		batch = append(batch, m)
		size += len(m.Value)
	}
	return batch, nil
}

// entry is one message of the batch and what became of it.
type entry struct {
	msg     kafkago.Message
	handled bool
	// rejected: Elasticsearch refused it and it was dead-lettered; an
	// older version of its order must then be indexed instead.
	rejected bool
	order    order.Order
}

// handleAndCommit handles batch and commits what it can. It returns an
// error when a message is left unhandled while work is still alive: the
// next batch's commit would skip past it, so the pipeline must stop.
func (p *Pipeline) handleAndCommit(work context.Context, batch []kafkago.Message) error {
	p.metrics.BatchInFlight.Set(float64(len(batch)))
	defer p.metrics.BatchInFlight.Set(0)
	p.consumed.Add(int64(len(batch)))
	p.metrics.Consumed.Add(float64(len(batch)))

	entries, err := p.handle(work, batch)
	p.commit(entries)
	if work.Err() != nil && err == nil {
		// Shutdown: what is not handled stays uncommitted and Run
		// returns, so nothing later can be committed past it.
		return nil
	}
	stuck := firstUnhandled(entries)
	if len(stuck) == 0 {
		return nil
	}
	if err == nil {
		err = errors.New("left unhandled") // handle retries until work ends; this is a bug
	}
	err = fmt.Errorf("cannot handle %s, so nothing from there on is committed (a restart delivers it again): %w", strings.Join(stuck, ", "), err)
	p.log.Error("stopping: a message cannot be handled", "error", err.Error())
	return err
}

// firstUnhandled names, per partition, the first message not handled, as
// topic/partition@offset.
func firstUnhandled(entries []entry) []string {
	var out []string
	seen := map[string]bool{}
	for i := range entries {
		e := &entries[i]
		k := e.msg.Topic + "/" + strconv.Itoa(e.msg.Partition)
		if e.handled || seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, k+"@"+strconv.FormatInt(e.msg.Offset, 10))
	}
	return out
}

// handle decides every message's fate. Entries it leaves unhandled must not
// be committed; that happens only once work ended, or when a dead letter
// cannot be written for good, which it returns (and then stops early).
func (p *Pipeline) handle(work context.Context, batch []kafkago.Message) ([]entry, error) {
	// A permanent failure ends the whole batch at once: Run stops anyway.
	bctx, abort := context.WithCancelCause(work)
	defer abort(nil)
	entries := make([]entry, len(batch))
	var bad []kafkago.Message
	var badIdx []int
	var badReasons []string
	versions := make(map[string][]int, len(batch)) // entries per order id
	var ids []string                               // in order of first appearance
	for i, m := range batch {
		e := &entries[i]
		e.msg = m
		o, err := order.Decode(m.Value)
		if err != nil {
			reason := "invalid"
			if errors.Is(err, order.ErrMalformed) || !errors.Is(err, order.ErrInvalid) {
				reason = "malformed"
			}
			bad = append(bad, deadLetter(m, reason+": "+err.Error()))
			badIdx = append(badIdx, i)
			badReasons = append(badReasons, reason)
			continue
		}
		e.order = o
		if _, ok := versions[o.OrderID]; !ok {
			ids = append(ids, o.OrderID)
		}
		versions[o.OrderID] = append(versions[o.OrderID], i)
	}

	var g errgroup.Group
	if len(bad) > 0 {
		g.Go(func() error {
			if ok, err := p.writeDeadLetters(bctx, bad); !ok {
				if err != nil {
					abort(err)
				}
				return err
			}
			for k, i := range badIdx {
				entries[i].handled = true
				p.metrics.DeadLettered.WithLabelValues(badReasons[k]).Inc()
			}
			p.deadLettered.Add(int64(len(bad)))
			return nil
		})
	}
	g.Go(func() error {
		err := p.indexLatest(bctx, entries, ids, versions)
		if err != nil {
			abort(err)
		}
		return err
	})
	err := g.Wait()
	return entries, err
}

// indexLatest indexes, per order, only the highest version in the batch:
// sending two versions of one _id in one bulk would only earn a 409 for the
// older one, and sending just one halves the work for lifecycle bursts. The
// older versions are then superseded, handled with the one that stood, as
// long as that one was indexed or found older than what Elasticsearch holds.
// When Elasticsearch rejects it (dead-lettered), the next version down is
// sent in another round, as a consumer taking one message at a time would
// have left it in the index.
func (p *Pipeline) indexLatest(work context.Context, entries []entry, ids []string, versions map[string][]int) error {
	for _, id := range ids {
		// Highest version first; of equal versions the later message,
		// the one a sequential consumer would have had the last word on.
		slices.SortFunc(versions[id], func(a, b int) int {
			if c := cmp.Compare(entries[b].order.Version, entries[a].order.Version); c != 0 {
				return c
			}
			return cmp.Compare(b, a)
		})
	}
	cur := make([]int, len(ids)) // per order, the position in versions of the one sent
	pending := make([]int, len(ids))
	for k, id := range ids {
		pending[k] = versions[id][0]
	}
	for len(pending) > 0 {
		if err := p.indexAll(work, entries, pending); err != nil || work.Err() != nil {
			return err
		}
		pending = pending[:0]
		for k, id := range ids {
			vs := versions[id]
			if entries[vs[cur[k]]].rejected && cur[k]+1 < len(vs) {
				cur[k]++
				pending = append(pending, vs[cur[k]])
			}
		}
	}
	for k, id := range ids {
		vs := versions[id]
		if w := &entries[vs[cur[k]]]; !w.handled || w.rejected {
			continue
		}
		for _, i := range vs[cur[k]+1:] {
			entries[i].handled = true
			p.superseded.Add(1)
			p.metrics.Superseded.Inc()
		}
	}
	return nil
}

// writeDeadLetters writes msgs to the dead-letter topic, retrying failures
// with backoff until they are written (true) or ctx ends (false, nil): a bad
// message must not stop the stream because the dead-letter topic is briefly
// unavailable. A failure the writer reports as permanent (kafka.ErrPermanent,
// e.g. a dead letter over the writer's batch bytes or no permission on the
// topic) is returned at once: retrying cannot fix it, and skipping the
// message would lose it.
func (p *Pipeline) writeDeadLetters(ctx context.Context, msgs []kafkago.Message) (bool, error) {
	bo := newBackoff(p.cfg.RetryInitial, p.cfg.RetryMax)
	for attempt := 1; ; attempt++ {
		err := p.dlq.WriteDeadLetters(ctx, msgs)
		switch {
		case err == nil:
			p.health.Set("dead-letters", "")
			return true, nil
		case ctx.Err() != nil:
			return false, nil
		case errors.Is(err, kafka.ErrPermanent):
			return false, fmt.Errorf("write %d dead letters: %w", len(msgs), err)
		}
		wait := bo.NextBackOff()
		p.retries.Add(int64(len(msgs)))
		p.metrics.Retries.WithLabelValues("dlq_write").Add(float64(len(msgs)))
		p.health.Set("dead-letters", "dead-letter write failing: "+err.Error()+"; retrying")
		p.log.Warn("dead-letter write failed, retrying", "messages", len(msgs), "error", err.Error(), "attempt", attempt, "retry_in", wait.String())
		select {
		case <-ctx.Done():
			return false, nil
		case <-time.After(wait):
		}
	}
}

// indexAll sends the winners until each is indexed, known newer, or
// dead-lettered, or until work ends. It returns an error only when a
// rejected document's dead letter cannot be written for good.
func (p *Pipeline) indexAll(work context.Context, entries []entry, pending []int) error {
	bo := newBackoff(p.cfg.RetryInitial, p.cfg.RetryMax)
	for attempt := 1; len(pending) > 0; attempt++ {
		outcomes := p.bulkRound(work, entries, pending)
		if work.Err() != nil {
			// Shutdown cut the requests short: their outcomes say nothing
			// about Elasticsearch, and nothing more may be handled.
			_, _, _, _ = p.markOutcomes(work, entries, pending, outcomes, false)
			return nil
		}
		retry, cause, reason, err := p.markOutcomes(work, entries, pending, outcomes, true)
		if err != nil {
			return err
		}
		if len(retry) == 0 {
			p.health.Set("elasticsearch", "")
			return nil
		}
		wait := bo.NextBackOff()
		p.retries.Add(int64(len(retry)))
		p.metrics.Retries.WithLabelValues(cause).Add(float64(len(retry)))
		p.health.Set("elasticsearch", fmt.Sprintf("elasticsearch unavailable: %s; retrying %d documents", reason, len(retry)))
		p.log.Warn("elasticsearch did not take documents, retrying",
			"documents", len(retry), "cause", cause, "reason", reason, "attempt", attempt, "retry_in", wait.String())
		select {
		case <-work.Done():
			return nil
		case <-time.After(wait):
		}
		pending = retry
	}
	return nil
}

// bulkRound sends pending split into at most Workers concurrent requests and
// returns one outcome per pending entry.
func (p *Pipeline) bulkRound(work context.Context, entries []entry, pending []int) []elastic.Outcome {
	outcomes := make([]elastic.Outcome, len(pending))
	chunk := (len(pending) + p.cfg.Workers - 1) / p.cfg.Workers
	var g errgroup.Group
	for lo := 0; lo < len(pending); lo += chunk {
		hi := min(lo+chunk, len(pending))
		g.Go(func() error {
			docs := make([]elastic.Doc, hi-lo)
			for k, i := range pending[lo:hi] {
				e := &entries[i]
				docs[k] = elastic.Doc{ID: e.order.OrderID, Version: e.order.Version, Source: e.msg.Value}
			}
			p.bulk(work, docs, outcomes[lo:hi])
			return nil
		})
	}
	_ = g.Wait()
	return outcomes
}

// bulk sends docs in one request and fills out with one outcome each. A
// request Elasticsearch refuses as too large (413, over
// http.max_content_length) is split in halves until it fits: sending it
// again as is would fail forever. A single document that is still too large
// is rejected: no request can carry it.
func (p *Pipeline) bulk(work context.Context, docs []elastic.Doc, out []elastic.Outcome) {
	start := time.Now()
	res, err := p.index.Bulk(work, docs)
	p.metrics.BulkDuration.Observe(time.Since(start).Seconds())
	if err == nil {
		copy(out, res)
		return
	}
	status := statusOf(err)
	switch {
	case status == http.StatusRequestEntityTooLarge && len(docs) > 1 && work.Err() == nil:
		half := len(docs) / 2
		p.log.Warn("bulk request too large for elasticsearch, splitting it", "documents", len(docs), "error", err.Error())
		p.bulk(work, docs[:half], out[:half])
		p.bulk(work, docs[half:], out[half:])
		return
	case status == http.StatusRequestEntityTooLarge:
		out[0] = elastic.Outcome{Result: elastic.Rejected, Status: status, Reason: "document too large for one bulk request: " + err.Error()}
		return
	case status == http.StatusBadRequest:
		// A 400 for the whole request blames the request, not one
		// document: a body this program built wrongly, or an
		// Elasticsearch that does not understand it. Dead-lettering the
		// whole chunk would throw away good documents, so it is retried
		// like an outage, loudly, for an operator to look at.
		p.log.Error("elasticsearch refused the whole bulk request (400); retrying it, but this needs a fix in the consumer or the cluster, not waiting",
			"documents", len(docs), "error", err.Error())
	}
	for k := range docs {
		out[k] = elastic.Outcome{Result: elastic.Retry, Reason: err.Error(), Status: status}
	}
}

func statusOf(err error) int {
	var se *elastic.StatusError
	if errors.As(err, &se) {
		return se.Status
	}
	return 0
}

// markOutcomes applies outcomes, dead-letters rejected documents, and
// returns the entries to retry with the cause and reason of the first, or
// the error of a dead-letter write that failed for good. When final is false
// only successes are recorded.
func (p *Pipeline) markOutcomes(work context.Context, entries []entry, pending []int, outcomes []elastic.Outcome, final bool) (retry []int, cause, reason string, err error) {
	var rejected []kafkago.Message
	var rejectedIdx []int
	var firstRejection string
	now := p.now()
	for k, i := range pending {
		e, o := &entries[i], outcomes[k]
		switch o.Result {
		case elastic.Indexed:
			e.handled = true
			p.indexed.Add(1)
			p.metrics.Indexed.Inc()
			p.metrics.EndToEnd.Observe(now.Sub(e.order.UpdatedAt).Seconds())
		case elastic.Conflict:
			e.handled = true
			p.conflicts.Add(1)
			p.metrics.Conflicts.Inc()
		case elastic.Rejected:
			if final {
				if firstRejection == "" {
					firstRejection = o.Reason
				}
				rejected = append(rejected, deadLetter(e.msg, "rejected by elasticsearch: "+strconv.Itoa(o.Status)+" "+o.Reason))
				rejectedIdx = append(rejectedIdx, i)
			}
		default:
			if cause == "" {
				cause, reason = retryCause(o), o.Reason
			}
			retry = append(retry, i)
		}
	}
	if len(rejected) > 0 {
		p.log.Warn("elasticsearch rejected documents, dead-lettering them", "documents", len(rejected), "first_reason", firstRejection)
		ok, err := p.writeDeadLetters(work, rejected)
		if !ok {
			return retry, cause, reason, err
		}
		for _, i := range rejectedIdx {
			entries[i].handled, entries[i].rejected = true, true
		}
		p.deadLettered.Add(int64(len(rejected)))
		p.metrics.DeadLettered.WithLabelValues("rejected").Add(float64(len(rejected)))
	}
	return retry, cause, reason, nil
}

func retryCause(o elastic.Outcome) string {
	switch {
	case o.Status == http.StatusTooManyRequests:
		return "too_many_requests"
	case o.Status >= 500:
		return "server_error"
	case o.Status == http.StatusUnauthorized || o.Status == http.StatusForbidden:
		return "forbidden"
	case o.Status == 0:
		return "unavailable"
	case o.Status >= 400:
		return "client_error" // e.g. a closed or missing index, a cluster block, a 400 for the request
	}
	return "other"
}

// commit commits, per partition, the last message of the prefix of handled
// messages: never past one still unhandled.
func (p *Pipeline) commit(entries []entry) {
	type tp struct {
		topic     string
		partition int
	}
	last := map[tp]int{}
	blocked := map[tp]bool{}
	var keys []tp
	for i := range entries {
		e := &entries[i]
		k := tp{e.msg.Topic, e.msg.Partition}
		if blocked[k] {
			continue
		}
		if !e.handled {
			blocked[k] = true
			continue
		}
		if _, ok := last[k]; !ok {
			keys = append(keys, k)
		}
		last[k] = i
	}
	if len(keys) == 0 {
		return
	}
	msgs := make([]kafkago.Message, 0, len(keys))
	for _, k := range keys {
		msgs = append(msgs, entries[last[k]].msg)
	}
	// Commit even during shutdown: what is handled should not be redone.
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.CommitTimeout)
	defer cancel()
	if err := p.fetch.CommitMessages(ctx, msgs...); err != nil {
		// Typically a rebalance moved the partitions: the next owner
		// re-reads from the last commit and re-indexes idempotently.
		p.commitFailures.Add(1)
		p.metrics.CommitFailures.Inc()
		p.log.Warn("commit failed; the messages will be delivered again", "error", err.Error(), "partitions", len(msgs))
		return
	}
	p.committed.Add(int64(len(msgs)))
}

// deadLetter copies m for the dead-letter topic: same key and bytes, the
// original headers, then why and where it came from.
func deadLetter(m kafkago.Message, reason string) kafkago.Message {
	// The original headers come first, then the dead-letter contract's.
	src := deadletter.Source{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset}
	headers := append(append([]kafkago.Header(nil), m.Headers...), deadletter.Headers(src, reason)...)
	return kafkago.Message{Key: m.Key, Value: m.Value, Headers: headers}
}

func newBackoff(initial, maxInterval time.Duration) *backoff.ExponentialBackOff {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = initial
	bo.MaxInterval = maxInterval
	bo.MaxElapsedTime = 0 // only shutdown ends the retries
	bo.Reset()
	return bo
}

func (p *Pipeline) logProgress(ctx context.Context) {
	t := time.NewTicker(p.cfg.ProgressInterval)
	defer t.Stop()
	prev, prevAt := p.Stats(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s := p.Stats()
			secs := now.Sub(prevAt).Seconds()
			p.log.Info("progress",
				"consumed", s.Consumed, "indexed", s.Indexed, "conflicts", s.Conflicts, "superseded", s.Superseded,
				"dead_lettered", s.DeadLettered, "retries", s.Retries, "commit_failures", s.CommitFailures,
				"consumed_per_s", round1(float64(s.Consumed-prev.Consumed)/secs),
				"indexed_per_s", round1(float64(s.Indexed-prev.Indexed)/secs),
				"ready", p.health.Reason() == "")
			prev, prevAt = s, now
		}
	}
}

func round1(x float64) float64 { return float64(int64(x*10)) / 10 }

// KafkaDeadLetters writes dead letters with kafka.WriteAll semantics through
// Write (normally a bound kafka.WriteAll), retrying only what failed.
type KafkaDeadLetters struct {
	Write   func(ctx context.Context, msgs []kafkago.Message, onRetry func(failed int, err error, wait time.Duration)) (int, error)
	Log     *slog.Logger
	Metrics *Metrics
	Health  *Health
	mu      sync.Mutex
}

// WriteDeadLetters implements DeadLetters.
func (d *KafkaDeadLetters) WriteDeadLetters(ctx context.Context, msgs []kafkago.Message) error {
	// The pipeline may dead-letter from two goroutines at once (decode
	// failures and rejections); one writer call at a time keeps kafka-go's
	// synchronous writer simple to reason about.
	d.mu.Lock()
	defer d.mu.Unlock()
	_, err := d.Write(ctx, msgs, func(failed int, err error, wait time.Duration) {
		if d.Metrics != nil {
			d.Metrics.Retries.WithLabelValues("dlq_write").Add(float64(failed))
		}
		d.Health.Set("kafka-dlq", "kafka dead-letter topic unavailable: "+err.Error()+"; retrying")
		if d.Log != nil {
			d.Log.Warn("dead-letter write failed, retrying", "messages", failed, "error", err.Error(), "retry_in", wait.String())
		}
	})
	if err == nil {
		d.Health.Set("kafka-dlq", "")
	}
	return err
}
