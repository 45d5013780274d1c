package pipeline

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/internal/elastic"
	"github.com/orderpipe/orderpipe/internal/generator"
)

// Rebalances mid-stream deliver every partition again from its committed
// offset, while batches of the generation before are still in flight: the
// index ends exact, and the commits (the last one wins) end at the end of
// every partition.
func TestRebalancesMidStreamEndExact(t *testing.T) {
	msgs, evs := events(t, 400, generator.Config{LifecycleShare: 0.8}, 3)
	f := &fakeFetcher{msgs: msgs}
	es := newFakeES()
	es.gate = func(ctx context.Context, _ []elastic.Doc) { // slow enough for rebalances to land mid-stream
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Millisecond):
		}
	}
	c := testConfig()
	c.BulkSize, c.Workers = 20, 3
	p := newPipeline(t, c, f, es, &fakeDLQ{}, Options{})
	stop := start(t, p)
	for i := range 5 {
		eventually(t, "progress before rebalance "+strconv.Itoa(i), func() bool {
			c := f.committed()
			return c[0]+c[1]+c[2] > int64((i+1)*len(msgs)/8)
		})
		f.rebalance(nil)
	}
	eventually(t, "every offset committed", func() bool { return sameOffsets(f.committed(), endOffsets(msgs)) })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	final := map[string]int{}
	for _, ev := range evs {
		final[ev.OrderID] = max(final[ev.OrderID], ev.Version)
	}
	for id, v := range final {
		if got := es.version(id); got != v {
			t.Errorf("order %s at version %d, want %d", id, got, v)
		}
	}
	if f.gen != 5 {
		t.Fatalf("%d generations, want 5", f.gen)
	}
}

// A partition can come back at a higher offset than this member's batches
// in flight reached, because another member committed further meanwhile.
// The old batch, finishing late, must not move the commit back: with the
// last commit winning, that would re-deliver what the other member did.
func TestPartitionBackAtAHigherOffsetWhileAnOldBatchIsInFlight(t *testing.T) {
	msgs, evs := events(t, 60, generator.Config{}, 1)
	const victim = 5
	es := newFakeES()
	release := make(chan struct{})
	held := es.hang(evs[victim].OrderID, release)
	f := &fakeFetcher{msgs: msgs}
	c := testConfig()
	c.BulkSize, c.Workers = 10, 3
	p := newPipeline(t, c, f, es, &fakeDLQ{}, Options{})
	stop := start(t, p)
	select { // the batch holding the victim is in flight
	case <-held:
	case <-time.After(10 * time.Second):
		t.Fatal("the victim's batch never reached Elasticsearch")
	}
	// Read ahead past where the partition comes back, as a consumer
	// usually is: only then does the fetch from a lower offset tell the
	// ledger. (Were it behind, the partition coming back at 40 would look
	// like a gap in the offsets, which compaction also makes: the commit
	// would then wait for the old batch, never pass it.)
	eventually(t, "every message fetched", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.next == len(f.msgs)
	})
	const elsewhere = 40 // another member handled up to here
	f.rebalance(map[int]int64{0: elsewhere})
	eventually(t, "the new generation committed to the end", func() bool { return f.committed()[0] == int64(len(msgs)) })
	close(release) // the old batch finishes and acks
	time.Sleep(50 * time.Millisecond)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := f.committed()[0]; got != int64(len(msgs)) {
		t.Fatalf("committed offset %d after the old batch finished, want %d: it moved the commit back", got, len(msgs))
	}
}

// Versions not sent because a later one of their order stood for them are
// handled only with it: while that later version is retrying, neither it
// nor they may be committed past.
func TestSupersededVersionsStayUncommittedWhileTheirStandInRetries(t *testing.T) {
	msgs, evs := events(t, 10, generator.Config{LifecycleShare: 1}, 1) // follow-ups right after each order
	var id string
	first, latest := -1, -1
	for i, ev := range evs {
		if id == "" && ev.Version == 1 {
			id, first = ev.OrderID, i
		}
		if ev.OrderID == id {
			latest = i
		}
	}
	if latest <= first {
		t.Fatalf("order %s has no later version", id)
	}
	es := newFakeES()
	unstick := es.stick(id)
	f := &fakeFetcher{msgs: msgs}
	c := testConfig()
	c.BulkSize = len(msgs) // one batch: the versions are superseded inside it
	p := newPipeline(t, c, f, es, &fakeDLQ{}, Options{})
	stop := start(t, p)
	eventually(t, "the latest version retried", func() bool { return es.sent(id) >= 3 })
	if got := f.committed()[0]; got > int64(first) {
		t.Fatalf("committed offset %d past version 1 at offset %d while its stand-in version still retries", got, first)
	}
	// The other orders' stand-ins stood in the first request, so their
	// older versions are superseded (and acked) already; id's are not.
	others, otherIDs := 0, map[string]bool{}
	for _, ev := range evs {
		if ev.OrderID != id {
			others++
			otherIDs[ev.OrderID] = true
		}
	}
	if s, want := p.Stats().Superseded, int64(others-len(otherIDs)); s != want {
		t.Fatalf("%d messages counted superseded, want %d: those of the other orders, none of %s's before its stand-in stood", s, want, id)
	}
	unstick()
	eventually(t, "every offset committed", func() bool { return sameOffsets(f.committed(), endOffsets(msgs)) })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got, want := es.version(id), evs[latest].Version; got != want {
		t.Fatalf("order %s at version %d, want %d", id, got, want)
	}
}

// A dead-letter write still failing when shutdown comes is cut short: Run
// returns nil (a stop, not a failure), and nothing at or after the message
// is committed, so the next owner writes its dead letter.
func TestDeadLetterWriteCutShortByShutdown(t *testing.T) {
	msgs, _ := events(t, 30, generator.Config{}, 1)
	const bad = 10
	msgs[bad].Value = []byte("{not json")
	dlq := &fakeDLQ{err: errors.New("kafka: leader not available")}
	f := &fakeFetcher{msgs: msgs}
	c := testConfig()
	c.BulkSize = 5
	p := newPipeline(t, c, f, newFakeES(), dlq, Options{})
	stop := start(t, p)
	eventually(t, "the dead letter retried", func() bool {
		dlq.mu.Lock()
		defer dlq.mu.Unlock()
		return dlq.calls >= 3
	})
	eventually(t, "the messages before it committed", func() bool { return f.committed()[0] == bad })
	if err := stop(); err != nil {
		t.Fatalf("Run = %v, want nil: a shutdown is not a failure", err)
	}
	if got := f.committed()[0]; got > bad {
		t.Fatalf("committed offset %d past the message at %d whose dead letter was never written", got, bad)
	}
	if len(dlq.all()) != 0 {
		t.Fatal("a dead letter was recorded though every write failed")
	}
}

// The ledger's commit points equal a slow, obvious model's for several
// partitions, each switching epochs (fetched again from an offset it
// tracked, as after a rebalance) while acks of older epochs keep coming.
func TestLedgerMatchesModelAcrossPartitionsAndEpochs(t *testing.T) {
	type tracked struct {
		t      ticket
		offset int64
		epoch  int
		done   bool
	}
	for seed := uint64(1); seed <= 20; seed++ {
		r := rand.New(rand.NewPCG(seed, 1))
		l := newLedger()
		const parts = 3
		var all [parts][]*tracked
		epoch := [parts]int{}
		next := [parts]int64{}      // the last offset fetched
		rebalanced := [parts]bool{} // the next fetch is from the committed offset
		committed := [parts]int64{} // the model's: what Kafka holds
		for step := range 6000 {
			p := r.IntN(parts)
			switch k := r.IntN(20); {
			case k == 0: // rebalance: the next fetch is from the committed offset
				rebalanced[p] = true
			case k < 12:
				o := next[p] + 1 + int64(r.IntN(2))
				if rebalanced[p] {
					// A new epoch, unless nothing past the committed
					// offset was fetched: then it is a continuation.
					if o = committed[p]; o <= next[p] {
						epoch[p]++
					}
					rebalanced[p] = false
				}
				next[p] = o
				tk := l.track(msgAt(p, o))
				all[p] = append(all[p], &tracked{t: tk, offset: o, epoch: epoch[p]})
			default:
				if len(all[p]) == 0 {
					continue
				}
				x := all[p][r.IntN(len(all[p]))]
				if !x.done {
					x.done = true
					l.ack([]ticket{x.t})
				}
			}
			// The model: of the current epoch, the last offset of the done prefix.
			want := int64(-1)
			for _, x := range all[p] {
				if x.epoch != epoch[p] {
					continue
				}
				if !x.done {
					break
				}
				want = x.offset
			}
			got := map[int]int64{}
			for _, pt := range l.due() {
				got[pt.msg.Partition] = pt.msg.Offset
			}
			if w, g := want, got[p]; want >= 0 && want+1 > committed[p] && g != w {
				t.Fatalf("seed %d step %d partition %d: due offset %d, model says %d", seed, step, p, g, w)
			}
			if want < 0 || want+1 <= committed[p] {
				if g, ok := got[p]; ok {
					t.Fatalf("seed %d step %d partition %d: due offset %d, model says nothing due (want %d, committed %d, epoch %d)", seed, step, p, g, want, committed[p], epoch[p])
				}
			}
			if r.IntN(4) == 0 { // the committer runs
				pts := l.due()
				l.committed(pts)
				for _, pt := range pts {
					committed[pt.msg.Partition] = pt.msg.Offset + 1
				}
			}
		}
	}
}
