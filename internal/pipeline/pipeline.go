package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"

	"github.com/orderpipe/orderpipe/internal/elastic"
	"github.com/orderpipe/orderpipe/internal/kafka"
	"github.com/orderpipe/orderpipe/internal/ops"
)

// Fetcher is the consumer-group side of Kafka; kafka.GroupMember implements
// it (and PartitionFetcher), as does *kafkago.Reader with a GroupID and
// CommitInterval 0. CommitMessages is called from
// one goroutine while FetchMessage runs in another.
type Fetcher interface {
	FetchMessage(ctx context.Context) (kafkago.Message, error)
	CommitMessages(ctx context.Context, msgs ...kafkago.Message) error
}

// Indexer stores documents; *elastic.Client implements it. Bulk returns one
// outcome per doc, or an error when the request as a whole failed. Several
// Bulk calls run at once.
type Indexer interface {
	Bulk(ctx context.Context, docs []elastic.Doc) ([]elastic.Outcome, error)
}

// Config tunes the pipeline. Every field but ProgressInterval is required:
// the values come from the consumer's settings (internal/consumer), their
// one home, with no second defaults here to drift from them.
type Config struct {
	// BulkSize and BulkBytes bound one batch: the messages of one _bulk
	// request.
	BulkSize  int
	BulkBytes int
	// Workers is how many batches are in flight at once, each one _bulk
	// request (and its retries) at a time.
	Workers int
	// FlushInterval is the linger: the longest a batch that is not full
	// waits for more messages, from its first one, before it is sent. It
	// only adds latency when messages arrive slower than requests go out;
	// under load batches fill while every worker is busy.
	FlushInterval time.Duration
	// DrainTimeout is how long the batches in flight may still finish
	// after Run's context ends; what is not handled by then is abandoned,
	// uncommitted.
	DrainTimeout time.Duration
	// CommitTimeout bounds one CommitMessages call; CommitInterval is the
	// shortest time between two, so that a stream of small batches costs
	// the group coordinator a few commits a second, not one per batch.
	CommitTimeout  time.Duration
	CommitInterval time.Duration
	// RetryInitial and RetryMax bound the backoff between retries of
	// documents Elasticsearch did not take and dead letters Kafka did not
	// acknowledge.
	RetryInitial time.Duration
	RetryMax     time.Duration
	// MaxUncommitted bounds, per partition, the messages fetched and not
	// yet committable: behind one that is not handled, each later message
	// of its partition waits in the ledger. At the bound the pipeline reads
	// no more of that partition (of any, when the Fetcher is not a
	// PartitionFetcher) until half of them are handled, and readiness and
	// the log name the partition.
	MaxUncommitted int
	// ProgressInterval is how often a progress line is logged (0: never).
	ProgressInterval time.Duration
}

// Validate reports the first field the pipeline cannot run with, by name: a
// zero value is a caller that forgot it, not a setting to guess.
func (c Config) Validate() error {
	for _, f := range []struct {
		name     string
		positive bool
		value    any
	}{
		{"BulkSize", c.BulkSize > 0, c.BulkSize}, {"BulkBytes", c.BulkBytes > 0, c.BulkBytes},
		{"Workers", c.Workers > 0, c.Workers}, {"FlushInterval", c.FlushInterval > 0, c.FlushInterval},
		{"DrainTimeout", c.DrainTimeout > 0, c.DrainTimeout}, {"CommitTimeout", c.CommitTimeout > 0, c.CommitTimeout},
		{"CommitInterval", c.CommitInterval > 0, c.CommitInterval}, {"RetryInitial", c.RetryInitial > 0, c.RetryInitial},
		{"RetryMax", c.RetryMax > 0, c.RetryMax}, {"MaxUncommitted", c.MaxUncommitted > 0, c.MaxUncommitted},
	} {
		if !f.positive {
			return fmt.Errorf("configure pipeline: Config.%s is %v, must be positive", f.name, f.value)
		}
	}
	if c.ProgressInterval < 0 {
		return fmt.Errorf("configure pipeline: Config.ProgressInterval is %v, must not be negative", c.ProgressInterval)
	}
	return nil
}

// Stats are cumulative counts since New.
type Stats struct {
	Consumed, Indexed, Conflicts, Superseded, DeadLettered, Retries, Committed, CommitFailures int64
	// PeakUncommitted is the most messages one partition had fetched and
	// not yet committable at once (at most Config.MaxUncommitted).
	PeakUncommitted int64
	// Abandoned counts messages whose retries stopped, or that were taken
	// out of a batch not sent yet, because their partition was fetched
	// again from its committed offset or was revoked: they are delivered
	// again there, or to the partition's new owner.
	Abandoned int64
}

// Pipeline moves one consumer group member's messages into Elasticsearch.
type Pipeline struct {
	cfg       Config
	fetch     Fetcher
	index     Indexer
	dlq       DeadLetters
	log       *slog.Logger
	metrics   *Metrics
	health    *Health
	unhealthy *unhealthy
	now       func() time.Time

	consumed, indexed, conflicts, superseded, deadLettered, retries, committed, commitFailures, abandoned atomic.Int64
	ledger                                                                                                atomic.Pointer[ledger] // of the current Run
}

// Options are the pipeline's optional collaborators.
type Options struct {
	Log     *slog.Logger
	Metrics *Metrics // nil: unregistered series
	Health  *Health  // nil: readiness is not reported
	Now     func() time.Time
}

// New returns a pipeline; Run starts it. It fails when cfg does not
// validate.
func New(cfg Config, f Fetcher, ix Indexer, dl DeadLetters, opt Options) (*Pipeline, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Metrics == nil {
		opt.Metrics = NewMetrics(nil)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Pipeline{cfg: cfg, fetch: f, index: ix, dlq: dl, log: opt.Log, metrics: opt.Metrics, health: opt.Health,
		unhealthy: &unhealthy{health: opt.Health, count: map[string]int{}}, now: opt.Now}, nil
}

// Stats returns the counts so far.
func (p *Pipeline) Stats() Stats {
	return Stats{
		Consumed: p.consumed.Load(), Indexed: p.indexed.Load(), Conflicts: p.conflicts.Load(),
		Superseded: p.superseded.Load(), DeadLettered: p.deadLettered.Load(), Retries: p.retries.Load(),
		Committed: p.committed.Load(), CommitFailures: p.commitFailures.Load(), Abandoned: p.abandoned.Load(),
		PeakUncommitted: int64(p.peakUncommitted()),
	}
}

func (p *Pipeline) peakUncommitted() int {
	if l := p.ledger.Load(); l != nil {
		return l.peakUnreleased()
	}
	return 0
}

// Run fetches, handles and commits until ctx ends. Then it stops fetching,
// gives the batches in flight DrainTimeout to finish, commits what is
// handled and returns nil, within DrainTimeout + CommitTimeout of ctx
// ending even when the commits hang. It returns an error when the Fetcher is closed
// or fails for good, or when a message cannot be handled for good (its dead
// letter cannot be written: retry.IsPermanent). Then nothing at or after
// that message is committed, and the error names its topic, partition and
// offset: whoever runs the pipeline again (a restarted consumer, the
// partition's next owner) gets it delivered again. A Fetcher whose Run
// returned such an error has fetched past uncommitted messages and must not
// be used for another Run.
func (p *Pipeline) Run(ctx context.Context) error {
	// intake ends on shutdown or on a batch that cannot be handled: either
	// way nothing more is fetched or sent.
	intake, stopIntake := context.WithCancelCause(ctx)
	defer stopIntake(nil)
	// Work in flight outlives intake by at most DrainTimeout, so SIGTERM
	// does not throw away a bulk request that is about to succeed.
	work, cancelWork := ops.Outlive(intake, p.cfg.DrainTimeout)
	defer cancelWork()
	// Commits outlive intake by at most DrainTimeout + CommitTimeout, the
	// one in flight and the final one alike, so that Run returns within
	// that of its context ending, however slow the group coordinator.
	commits, cancelCommits := ops.Outlive(intake, p.cfg.DrainTimeout+p.cfg.CommitTimeout)
	defer cancelCommits()

	l := newLedger()
	l.limit = p.cfg.MaxUncommitted
	p.ledger.Store(l)
	// The reader keeps its own read-ahead queue; this one only decouples
	// fetching from dispatching, so it need not hold a batch.
	fetched := make(chan kafka.Fetched, min(p.cfg.BulkSize, 256))
	commitStop, stopCommitter := context.WithCancel(context.Background())
	defer stopCommitter()

	var g errgroup.Group
	var fetchErr error
	g.Go(func() error { fetchErr = p.fetchLoop(intake, fetched); return nil })
	g.Go(func() error { p.commitLoop(commitStop, commits, l); return nil })
	if p.cfg.ProgressInterval > 0 {
		g.Go(func() error { p.logProgress(intake); return nil })
	}
	batchErr := p.dispatch(intake, work, fetched, newPartitionHolds(p.fetch, l), l, stopIntake)
	stopIntake(nil)
	// Every batch has returned, so the committer's last round sees all
	// that was handled.
	stopCommitter()
	_ = g.Wait()
	if batchErr != nil {
		p.log.Error("stopping: a message cannot be handled", "error", batchErr.Error())
		return batchErr
	}
	return fetchErr
}

// dispatch gathers fetched messages into batches and hands each to a free
// worker, at most Workers at once. A batch goes out when a worker is free
// and it is full or has lingered FlushInterval; while every worker is busy
// it keeps filling, up to BulkSize or BulkBytes, and then fetching waits:
// a slow Elasticsearch pushes back on Kafka with memory bounded by
// Workers + 1 batches and the read-ahead queues. It returns once intake ended and every batch sent
// has returned, with the errors of every batch that could not be handled
// (after the first it sends no more; the others were already in flight and
// may hold earlier offsets, so all are named).
func (p *Pipeline) dispatch(intake, work context.Context, fetched <-chan kafka.Fetched, in *partitionHolds, l *ledger, stop context.CancelCauseFunc) error {
	slots := make(chan struct{}, p.cfg.Workers)
	var workers sync.WaitGroup
	var errMu sync.Mutex
	var batchErrs []error
	batchErr := func() error {
		errMu.Lock()
		defer errMu.Unlock()
		return errors.Join(batchErrs...)
	}
	defer workers.Wait()

	b := &batch{}
	linger := time.NewTimer(p.cfg.FlushInterval)
	linger.Stop()
	defer linger.Stop()
	lingered := false
	take := func(m kafkago.Message) {
		if len(b.entries) == 0 {
			linger.Reset(p.cfg.FlushInterval)
			lingered = false
		}
		in.take(b, m)
	}
	revocations := in.revocations()
	var held *hold // the partition over its bound that has been longest, while one is
	defer func() { p.reportHold(held, nil, in) }()
	for {
		full := len(b.entries) >= p.cfg.BulkSize || b.bytes >= p.cfg.BulkBytes
		stopped := held != nil && in.holdsAll()
		if !full && !stopped {
			// Parked messages of a partition let through go before
			// anything fetched after them.
			if m, ok := in.next(); ok {
				take(m)
				held = p.reportHold(held, l, in)
				continue
			}
		}
		var recv <-chan kafka.Fetched
		if !full && !stopped {
			recv = fetched
		}
		var acquire chan<- struct{}
		if len(b.entries) > 0 && (full || lingered) {
			acquire = slots
		}
		var lingerDone <-chan time.Time
		if len(b.entries) > 0 && !lingered {
			lingerDone = linger.C
		}
		select {
		case <-intake.Done():
			// What was gathered but not sent stays unacked: the next
			// owner of its partitions fetches it again.
			workers.Wait()
			return batchErr()
		case f, ok := <-recv:
			if !ok {
				workers.Wait()
				return batchErr()
			}
			if in.stale(f) {
				continue
			}
			take(f.Message)
			if held != nil || l.overCount.Load() > 0 {
				held = p.reportHold(held, l, in)
			}
		case r := <-revocations:
			// Taken even while every worker is busy: the batches it
			// abandons may be what keeps them busy.
			if n := in.revoke(b, r); n > 0 {
				p.abandoned.Add(int64(n))
			}
			p.log.Info("partitions revoked: dropping what is not committed of them; their new owner reads it from the last commit",
				"generation", r.Generation, "revoked", fmt.Sprint(r.Partitions))
			held = p.reportHold(held, l, in)
		case <-l.resumed:
			if !in.holdsAll() {
				in.resumeReleased()
			}
			held = p.reportHold(held, l, in)
		case <-lingerDone:
			lingered = true
		case acquire <- struct{}{}:
			sent := b
			b = &batch{entries: make([]entry, 0, len(sent.entries))}
			linger.Stop()
			lingered = false
			workers.Add(1)
			go func() {
				defer workers.Done()
				defer func() { <-slots }()
				if err := p.handle(work, sent, l); err != nil {
					errMu.Lock()
					batchErrs = append(batchErrs, err)
					errMu.Unlock()
					stop(err)
				}
			}()
		}
	}
}
