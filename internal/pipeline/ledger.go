package pipeline

import (
	"sync"
	"sync/atomic"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

// ledger is the contiguous-acknowledgement book the committer reads: per
// partition, the offsets dispatched so far in fetch order, each marked done
// once its message is handled. Batches finish out of order (several bulk
// requests are in flight), so a partition's commit point is the last offset
// of the longest done prefix: Kafka's committed offset means "everything
// below is handled", and one slow message holds back every later one of its
// partition, never the other partitions.
//
// A partition that is fetched again from an offset it already tracked was
// handed back to this member at its committed offset after a rebalance.
// The ledger then opens a new book for it (an epoch): the old book's
// in-flight messages still finish and index, idempotently, but can no longer
// move the commit, which now follows what is fetched from the committed
// offset on.
//
// The ledger also bounds what it tracks: a book with limit messages not yet
// released (one message that never finishes holds back every later one) is
// over its bound until half of them are released (its oldest message is
// handled), and the dispatcher
// takes no more messages meanwhile (holdBack), so that a stuck message
// costs a bounded amount of memory, not 9 bytes for every later message
// of its partition.
type ledger struct {
	mu    sync.Mutex
	books map[topicPartition]*book
	// changed has room for one signal: acks that arrive while the
	// committer is busy coalesce into the next commit.
	changed chan struct{}
	// limit is the most messages a book tracks unreleased before it is
	// over its bound (0: no bound); over holds those books and since when,
	// and resumed signals (room for one) that one left it.
	limit int
	over  map[*book]time.Time
	// overCount is len(over), for the dispatcher to read per message
	// without taking the lock.
	overCount atomic.Int32
	resumed   chan struct{}
	now       func() time.Time
	peak      int
}

type topicPartition struct {
	topic     string
	partition int
}

// book is one epoch of one partition.
type book struct {
	tp      topicPartition
	offsets []int64 // dispatched, oldest first, from head on
	done    []bool
	head    int   // index of the oldest entry not yet released
	seq     int64 // sequence number of offsets[0]
	last    int64 // newest offset tracked
	// safe is the offset of the newest message of the done prefix (-1:
	// none); committed is the next offset Kafka holds for this book.
	safe, committed int64
}

// ticket is a dispatched message's place in its book.
type ticket struct {
	b   *book
	seq int64
}

func newLedger() *ledger {
	return &ledger{books: map[topicPartition]*book{}, changed: make(chan struct{}, 1),
		over: map[*book]time.Time{}, resumed: make(chan struct{}, 1), now: time.Now}
}

// track records m as dispatched and returns its ticket. Messages of one
// partition must be tracked in the order they were fetched.
func (l *ledger) track(m *kafkago.Message) ticket {
	tp := topicPartition{m.Topic, m.Partition}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.books[tp]
	if b == nil || m.Offset <= b.last {
		if b != nil {
			// The partition came back from its committed offset: what
			// the old book still tracks is delivered again in the new
			// one, and no longer holds back the fetch.
			l.leaveBound(b)
		}
		b = &book{tp: tp, safe: -1, committed: -1}
		l.books[tp] = b
	}
	b.last = m.Offset
	b.offsets = append(b.offsets, m.Offset)
	b.done = append(b.done, false)
	u := b.unreleased()
	l.peak = max(l.peak, u)
	if _, over := l.over[b]; !over && l.limit > 0 && u >= l.limit {
		l.over[b] = l.now()
		l.overCount.Store(int32(len(l.over)))
	}
	return ticket{b: b, seq: b.seq + int64(len(b.offsets)-1)}
}

func (b *book) unreleased() int { return len(b.offsets) - b.head }

// leaveBound takes b off the books over their bound, and wakes the
// dispatcher if that was the last one.
func (l *ledger) leaveBound(b *book) {
	if _, over := l.over[b]; !over {
		return
	}
	delete(l.over, b)
	l.overCount.Store(int32(len(l.over)))
	select {
	case l.resumed <- struct{}{}:
	default:
	}
}

// superseded reports whether t's book is no longer its partition's
// current one: the partition was fetched again from its committed offset,
// so t's message is delivered again there, or it was revoked, so its new
// owner reads it again; either way retrying it here only holds a worker.
func (l *ledger) superseded(t ticket) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.books[t.b.tp] != t.b
}

// holdBack returns the book over its bound that has been so longest.
func (l *ledger) holdBack() (hold, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var h hold
	found := false
	for b, since := range l.over {
		if !found || since.Before(h.since) {
			h = hold{topic: b.tp.topic, partition: b.tp.partition, waiting: b.unreleased(), behindOffset: b.offsets[b.head], since: since}
			found = true
		}
	}
	return h, found
}

// peakUnreleased returns the most messages one book has tracked
// unreleased at once.
func (l *ledger) peakUnreleased() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.peak
}

// ack marks the tickets of handled messages done and wakes the committer
// when a current book's commit point moved.
func (l *ledger) ack(ts []ticket) {
	if len(ts) == 0 {
		return
	}
	moved := false
	l.mu.Lock()
	for _, t := range ts {
		t.b.done[t.seq-t.b.seq] = true
	}
	for _, t := range ts {
		if t.b.release() && l.books[t.b.tp] == t.b {
			moved = true
		}
		// Half the bound, not just under it: a partition that hovers
		// at its bound is held and let go once per half a bound of
		// messages, not once per batch.
		if l.limit > 0 && t.b.unreleased() <= l.limit/2 {
			l.leaveBound(t.b)
		}
	}
	l.mu.Unlock()
	if moved {
		select {
		case l.changed <- struct{}{}:
		default:
		}
	}
}

// release pops the done prefix and reports whether safe moved.
func (b *book) release() bool {
	i := b.head
	for i < len(b.done) && b.done[i] {
		i++
	}
	if i == b.head {
		return false
	}
	b.safe = b.offsets[i-1]
	b.head = i
	// Compact once the released part dominates, so a long-lived book
	// costs memory for what is in flight, not for what passed.
	if b.head > 1024 && b.head*2 > len(b.offsets) {
		n := copy(b.offsets, b.offsets[b.head:])
		copy(b.done, b.done[b.head:])
		b.offsets, b.done = b.offsets[:n], b.done[:n]
		b.seq += int64(b.head)
		b.head = 0
	}
	return true
}

// commitPoint is what one commit covers for one book: the message whose
// offset + 1 Kafka is to store.
type commitPoint struct {
	b   *book
	msg kafkago.Message
}

// due returns, for every current book whose done prefix passed what Kafka
// holds, the message to commit.
func (l *ledger) due() []commitPoint {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []commitPoint
	for _, b := range l.books {
		if b.safe >= 0 && b.safe+1 > b.committed {
			out = append(out, commitPoint{b: b, msg: kafkago.Message{Topic: b.tp.topic, Partition: b.tp.partition, Offset: b.safe}})
		}
	}
	return out
}

// committed records that Kafka stored the points.
func (l *ledger) committed(ps []commitPoint) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range ps {
		p.b.committed = max(p.b.committed, p.msg.Offset+1)
	}
}

// isOver reports whether b is over its bound.
func (l *ledger) isOver(b *book) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, over := l.over[b]
	return over
}

// continues reports whether a message at offset follows b in its
// partition: b is still the partition's current book and the offset is
// past the last it tracked (not the partition read again from its
// committed offset).
func (l *ledger) continues(b *book, offset int64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.books[b.tp] == b && offset > b.last
}

// revoke drops the books of partitions this member no longer owns: their
// in-flight messages are superseded (not retried, never committed from
// here; the new owner reads them from the last commit), and they no longer
// hold back the fetch.
func (l *ledger) revoke(tps []topicPartition) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, tp := range tps {
		if b := l.books[tp]; b != nil {
			l.leaveBound(b)
			delete(l.books, tp)
		}
	}
}
