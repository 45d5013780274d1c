package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"

	"github.com/orderpipe/orderpipe/internal/elastic"
	"github.com/orderpipe/orderpipe/internal/order"
)

// batch is what one sender handles: the messages of one _bulk request, in
// fetch order, each with its ticket in the ledger.
type batch struct {
	entries []entry
	bytes   int
}

// entry is one message of a batch and what became of it.
type entry struct {
	msg     kafkago.Message
	ticket  ticket
	handled bool
	// acked: its ticket is marked done in the ledger (a ticket is acked
	// once: its book may have released and compacted it since).
	acked bool
	// rejected: Elasticsearch refused it and it was dead-lettered; an
	// older version of its order must then be indexed instead.
	rejected bool
	// deadLetter: its fate is the dead-letter topic; if it stays
	// unhandled, its dead letter could not be written.
	deadLetter bool
	// What indexing needs of the decoded order; the rest of it is garbage
	// as soon as it is validated, not held for the batch's lifetime.
	id        string
	version   int
	updatedAt time.Time
}

func (b *batch) add(m kafkago.Message, t ticket) {
	b.entries = append(b.entries, entry{msg: m, ticket: t})
	b.bytes += len(m.Value)
}

// handle decides the fate of every message of b and acks in the ledger
// those that are handled. It returns an error only when a dead letter
// cannot be written for good: the message can then neither be retried nor
// skipped, and the error names it. Messages left unhandled when work ends
// (shutdown) are not acked, so no commit passes them.
func (p *Pipeline) handle(work context.Context, b *batch, l *ledger) error {
	n := len(b.entries)
	p.metrics.InFlight.Add(float64(n))
	defer p.metrics.InFlight.Sub(float64(n))

	var bad []kafkago.Message
	var badIdx []int
	var badReasons []string
	versions := make(map[string][]int, n) // entries per order id
	var ids []string                      // in order of first appearance
	for i := range b.entries {
		e := &b.entries[i]
		o, err := order.Decode(e.msg.Value)
		if err != nil {
			reason := "invalid"
			if errors.Is(err, order.ErrMalformed) || !errors.Is(err, order.ErrInvalid) {
				reason = "malformed"
			}
			e.deadLetter = true
			bad = append(bad, deadLetter(e.msg, reason+": "+err.Error()))
			badIdx = append(badIdx, i)
			badReasons = append(badReasons, reason)
			continue
		}
		e.id, e.version, e.updatedAt = o.OrderID, o.Version, o.UpdatedAt
		if _, ok := versions[o.OrderID]; !ok {
			ids = append(ids, o.OrderID)
		}
		versions[o.OrderID] = append(versions[o.OrderID], i)
	}

	// Bad input goes to the dead-letter topic while the good documents are
	// indexed: neither waits for the other. A permanent failure ends the
	// batch at once: Run stops anyway, and an Elasticsearch outage must not
	// keep it from saying why.
	bctx, abort := context.WithCancelCause(work)
	defer abort(nil)
	var g errgroup.Group
	if len(bad) > 0 {
		g.Go(func() error {
			ok, err := p.writeDeadLetters(bctx, bad)
			if err != nil {
				abort(err)
			}
			if !ok {
				return err
			}
			for k, i := range badIdx {
				b.entries[i].handled = true
				p.metrics.DeadLettered.WithLabelValues(badReasons[k]).Inc()
			}
			p.deadLettered.Add(int64(len(bad)))
			return nil
		})
	}
	g.Go(func() error {
		err := p.indexLatest(bctx, b.entries, ids, versions)
		if err != nil {
			abort(err)
		}
		return err
	})
	err := g.Wait()

	tickets := make([]ticket, 0, n)
	for i := range b.entries {
		if e := &b.entries[i]; e.handled && !e.acked {
			e.acked = true
			tickets = append(tickets, e.ticket)
		}
	}
	l.ack(tickets)
	if err != nil {
		return fmt.Errorf("cannot handle %s, so nothing from there on is committed (a restart delivers it again): %w", strings.Join(unwrittenDeadLetters(b.entries), ", "), err)
	}
	return nil
}

// unwrittenDeadLetters names, per partition, the first message whose dead
// letter was not written, as topic/partition@offset.
func unwrittenDeadLetters(entries []entry) []string {
	var out []string
	seen := map[string]bool{}
	for i := range entries {
		e := &entries[i]
		k := e.msg.Topic + "/" + strconv.Itoa(e.msg.Partition)
		if e.handled || !e.deadLetter || seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, k+"@"+strconv.FormatInt(e.msg.Offset, 10))
	}
	return out
}

// indexLatest indexes, per order, only the highest version in the batch:
// sending two versions of one _id in one bulk would only earn a 409 for the
// older one, and sending just one halves the work for lifecycle bursts. The
// older versions are then superseded, handled with the one that stood, as
// long as that one was indexed or found older than what Elasticsearch holds.
// When Elasticsearch rejects it (dead-lettered), the next version down is
// sent in another round, as a consumer taking one message at a time would
// have left it in the index. Versions of one order in different batches in
// flight at once need no such care: external versioning lets the highest
// one stand whichever request lands first.
func (p *Pipeline) indexLatest(work context.Context, entries []entry, ids []string, versions map[string][]int) error {
	for _, id := range ids {
		// Highest version first; of equal versions the later message,
		// the one a sequential consumer would have had the last word on.
		slices.SortFunc(versions[id], func(a, b int) int {
			if c := cmp.Compare(entries[b].version, entries[a].version); c != 0 {
				return c
			}
			return cmp.Compare(b, a)
		})
	}
	cur := make([]int, len(ids)) // per order, the position in versions of the one sent
	settled := make([]bool, len(ids))
	// settle supersedes the versions below each stand-in that stood, and
	// acks what is handled, after every bulk request rather than when the
	// batch ends: while one document retries, the other orders' partitions
	// commit and flow on.
	settle := func() {
		var tickets []ticket
		for k, id := range ids {
			vs := versions[id]
			if w := &entries[vs[cur[k]]]; !settled[k] && w.handled && !w.rejected {
				settled[k] = true
				for _, i := range vs[cur[k]+1:] {
					entries[i].handled = true
					p.superseded.Add(1)
					p.metrics.Superseded.Inc()
				}
			}
			for _, i := range vs {
				if e := &entries[i]; e.handled && !e.acked {
					e.acked = true
					tickets = append(tickets, e.ticket)
				}
			}
		}
		if l := p.ledger.Load(); l != nil {
			l.ack(tickets)
		}
	}
	pending := make([]int, len(ids))
	for k, id := range ids {
		pending[k] = versions[id][0]
	}
	for len(pending) > 0 {
		if err := p.indexAll(work, entries, pending, settle); err != nil || work.Err() != nil {
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
	return nil
}

// indexAll sends the entries at pending in one bulk request, then again
// those Elasticsearch did not take, until each is indexed, known newer, or
// dead-lettered, or until work ends. It returns an error only when a
// rejected document's dead letter cannot be written for good.
func (p *Pipeline) indexAll(work context.Context, entries []entry, pending []int, settle func()) error {
	_, err := p.retry(work, "elasticsearch", func(attempt int) (bool, string, error) {
		outcomes := p.send(work, entries, pending)
		if work.Err() != nil {
			// Shutdown cut the request short: its outcomes say nothing
			// about Elasticsearch, and nothing more may be handled.
			_, _, _, _ = p.markOutcomes(work, entries, pending, outcomes, false)
			return false, "", nil
		}
		retry, cause, reason, err := p.markOutcomes(work, entries, pending, outcomes, true)
		settle()
		if err == nil {
			retry = p.dropSuperseded(entries, retry)
		}
		if err != nil || len(retry) == 0 {
			return err == nil, "", err
		}
		p.retries.Add(int64(len(retry)))
		p.metrics.Retries.WithLabelValues(cause).Add(float64(len(retry)))
		p.log.Warn("elasticsearch did not take documents, retrying",
			"documents", len(retry), "cause", cause, "reason", reason, "attempt", attempt)
		pending = retry
		return false, fmt.Sprintf("elasticsearch unavailable: %s; retrying %d documents", reason, len(retry)), nil
	})
	return err
}

// send makes one bulk request of the entries at pending and returns one
// outcome each.
func (p *Pipeline) send(work context.Context, entries []entry, pending []int) []elastic.Outcome {
	docs := make([]elastic.Doc, len(pending))
	for k, i := range pending {
		e := &entries[i]
		docs[k] = elastic.Doc{ID: e.id, Version: e.version, Source: e.msg.Value}
	}
	return elastic.Send(work, p.timedBulk, docs, p.log)
}

func (p *Pipeline) timedBulk(ctx context.Context, docs []elastic.Doc) ([]elastic.Outcome, error) {
	start := time.Now()
	defer func() { p.metrics.BulkDuration.Observe(time.Since(start).Seconds()) }()
	return p.index.Bulk(ctx, docs)
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
			p.metrics.EndToEnd.Observe(now.Sub(e.updatedAt).Seconds())
		case elastic.Conflict:
			e.handled = true
			p.conflicts.Add(1)
			p.metrics.Conflicts.Inc()
		case elastic.Rejected:
			if final {
				if firstRejection == "" {
					firstRejection = o.Reason
				}
				e.deadLetter = true
				rejected = append(rejected, deadLetter(e.msg, "rejected by elasticsearch: "+strconv.Itoa(o.Status)+" "+o.Reason))
				rejectedIdx = append(rejectedIdx, i)
			}
		default:
			if cause == "" {
				cause, reason = o.Cause(), o.Reason
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

// dropSuperseded returns the entries at retry whose partition was not
// fetched again since: one that was came back to this member from its
// committed offset (after a rebalance), so those messages are delivered
// again in the new epoch, and retrying them here would only hold a worker
// and their memory. They stay unhandled, and their old book can no longer
// move the commit anyway.
func (p *Pipeline) dropSuperseded(entries []entry, retry []int) []int {
	l := p.ledger.Load()
	if l == nil {
		return retry
	}
	kept := retry[:0]
	for _, i := range retry {
		if l.superseded(entries[i].ticket) {
			p.abandoned.Add(1)
			continue
		}
		kept = append(kept, i)
	}
	if n := len(retry) - len(kept); n > 0 {
		p.log.Info("abandoning retries of messages delivered again after a rebalance", "documents", n)
	}
	return kept
}
