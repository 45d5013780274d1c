package pipeline

import (
	"context"
	"fmt"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/orderpipe/orderpipe/internal/kafka"
)

// PartitionFetcher is a Fetcher that reads each partition it is assigned on
// its own, as kafka.GroupMember does. Run detects it on its Fetcher: a
// partition at its bound (MaxUncommitted) is then paused alone while the
// others flow, and the partitions a rebalance took away are dropped at
// once, their batches in flight abandoned. With any other Fetcher the whole
// fetch waits at the bound, and a lost partition is noticed only when it is
// read again (see the package's Rebalances).
type PartitionFetcher interface {
	Fetcher
	// Fetch is FetchMessage that also says which generation of the group
	// read the message (a number that grows with each generation).
	Fetch(ctx context.Context) (kafka.Fetched, error)
	// Revocations delivers the partitions each new generation took away
	// from this member, before that generation reads anything: a message
	// of a revoked partition fetched afterwards with an older generation
	// was read before it was lost.
	Revocations() <-chan kafka.Revocation
	// Pause stops reading one partition, Resume reads it again from where
	// it stopped; messages already on their way may still come after
	// Pause. A new generation reads every partition it assigns from its
	// committed offset, paused before or not.
	Pause(topic string, partition int)
	Resume(topic string, partition int)
}

// partitionHolds is how dispatch takes a message in: tracked in the ledger and
// added to the batch being gathered, unless its partition is held back.
// With a PartitionFetcher, a partition whose book reaches its bound is
// paused, and its messages that were already on their way are parked, in
// fetch order, untracked, until its book is back under the bound; then
// they come first (ready), and the partition is resumed. Without one,
// dispatch stops receiving altogether (holdsAll).
type partitionHolds struct {
	l      *ledger
	pf     PartitionFetcher // nil: hold back the whole fetch
	paused map[topicPartition]*pausedPartition
	ready  []kafkago.Message // parked messages of resumed partitions, in fetch order
	// lostAt holds, per revoked partition, the generation that revoked it:
	// its messages read by an older one, still on their way, are dropped.
	lostAt map[topicPartition]int64
}

type pausedPartition struct {
	b      *book // the book over its bound
	parked []kafkago.Message
}

func newPartitionHolds(f Fetcher, l *ledger) *partitionHolds {
	pf, _ := f.(PartitionFetcher)
	return &partitionHolds{l: l, pf: pf, paused: map[topicPartition]*pausedPartition{}, lostAt: map[topicPartition]int64{}}
}

// revocations is the Fetcher's channel of revocations (nil: it has none).
func (in *partitionHolds) revocations() <-chan kafka.Revocation {
	if in.pf == nil {
		return nil
	}
	return in.pf.Revocations()
}

// stale reports whether f was read before its partition was revoked: the
// new owner reads it again.
func (in *partitionHolds) stale(f kafka.Fetched) bool {
	tp := topicPartition{f.Message.Topic, f.Message.Partition}
	g, lost := in.lostAt[tp]
	if !lost {
		return false
	}
	if f.Generation < g {
		return true
	}
	delete(in.lostAt, tp) // assigned to this member again
	return false
}

// holdsAll reports whether a partition over its bound stops the whole
// fetch: the Fetcher cannot pause one.
func (in *partitionHolds) holdsAll() bool { return in.pf == nil }

// take tracks m into b, or parks it behind its paused partition.
func (in *partitionHolds) take(b *batch, m kafkago.Message) {
	tp := topicPartition{m.Topic, m.Partition}
	if pp := in.paused[tp]; pp != nil {
		if in.l.continues(pp.b, m.Offset) {
			pp.parked = append(pp.parked, m)
			return
		}
		// Read again from its committed offset (a new generation, which
		// reads every partition, paused or not): a new book, not over
		// its bound, and what was parked comes again.
		delete(in.paused, tp)
		in.pf.Resume(tp.topic, tp.partition)
	}
	t := in.l.track(&m)
	b.add(m, t)
	if in.pf != nil && in.l.isOver(t.b) {
		in.paused[tp] = &pausedPartition{b: t.b}
		in.pf.Pause(tp.topic, tp.partition)
	}
}

// resumeReleased resumes every paused partition whose book is no longer
// over its bound, its parked messages first.
func (in *partitionHolds) resumeReleased() {
	for tp, pp := range in.paused {
		if in.l.isOver(pp.b) {
			continue
		}
		in.ready = append(in.ready, pp.parked...)
		delete(in.paused, tp)
		in.pf.Resume(tp.topic, tp.partition)
	}
}

// next returns the first ready message, if any.
func (in *partitionHolds) next() (kafkago.Message, bool) {
	if len(in.ready) == 0 {
		return kafkago.Message{}, false
	}
	m := in.ready[0]
	in.ready[0] = kafkago.Message{}
	in.ready = in.ready[1:]
	if len(in.ready) == 0 {
		in.ready = nil
	}
	return m, true
}

// revoke forgets the partitions this member lost: their books, what is
// parked or ready of them, their messages in b, which is not sent yet, and
// those still on their way (stale). It returns how many of b's messages it
// took out.
func (in *partitionHolds) revoke(b *batch, r kafka.Revocation) int {
	lost := make(map[topicPartition]bool, len(r.Partitions))
	tps := make([]topicPartition, 0, len(r.Partitions))
	for _, p := range r.Partitions {
		tp := topicPartition{p.Topic, p.Partition}
		lost[tp] = true
		tps = append(tps, tp)
		delete(in.paused, tp)
		in.lostAt[tp] = r.Generation
	}
	in.l.revoke(tps)
	kept := in.ready[:0]
	for _, m := range in.ready {
		if !lost[topicPartition{m.Topic, m.Partition}] {
			kept = append(kept, m)
		}
	}
	in.ready = kept
	entries := b.entries[:0]
	dropped := 0
	for _, e := range b.entries {
		if lost[topicPartition{e.msg.Topic, e.msg.Partition}] {
			b.bytes -= len(e.msg.Value)
			dropped++
			continue
		}
		entries = append(entries, e)
	}
	clear(b.entries[len(entries):])
	b.entries = entries
	return dropped
}

// hold describes a partition over its bound: the first one, if any.
type hold struct {
	topic        string
	partition    int
	waiting      int   // messages tracked and not released
	behindOffset int64 // the oldest of them, not handled yet
	since        time.Time
}

func (h hold) String() string {
	return fmt.Sprintf("partition %d held back: %d messages waiting behind offset %d since %s",
		h.partition, h.waiting, h.behindOffset, h.since.Format(time.TimeOnly))
}

// reportHold asks the ledger whether a partition is over its bound (none
// when l is nil) and, when that changed since was, says so in the log and
// in readiness. It returns the hold now in force.
func (p *Pipeline) reportHold(was *hold, l *ledger, in *partitionHolds) *hold {
	var now *hold
	if l != nil {
		if h, ok := l.holdBack(); ok {
			now = &h
		}
	}
	switch {
	case now != nil && (was == nil || now.topic != was.topic || now.partition != was.partition || !now.since.Equal(was.since)):
		effect := "; reading no more of it until it is handled, the other partitions go on"
		if in.holdsAll() {
			effect = "; taking no more messages until it is handled"
		}
		p.log.Warn(now.String()+effect, "topic", now.topic, "partition", now.partition,
			"offset", now.behindOffset, "waiting", now.waiting, "bound", p.cfg.MaxUncommitted)
		p.health.Set("held-back", now.String())
	case now == nil && was != nil:
		p.log.Info("partition flowing again", "topic", was.topic, "partition", was.partition, "held_for", p.now().Sub(was.since).Round(time.Millisecond).String())
		p.health.Set("held-back", "")
	}
	return now
}
