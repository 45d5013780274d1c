package producer

import (
	"fmt"
	"sync"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/orderpipe/orderpipe/internal/settings"
)

// A lane is the path of a share of the keys (with one lane, all of them;
// with one per partition, one partition's): the generator appends to its
// open batch, and its sender takes the batch once the batch is full, has
// lingered long enough, or the lane is closed, and writes it before it
// takes the next. While a write is in flight the open batch keeps filling
// (as the Java client's accumulator does), so a slow broker gets bigger
// batches rather than a queue; only when the open batch is full and the
// sender still busy does the generator wait: that is the back-pressure.
//
// One batch in flight per lane is what keeps a key's events in order under
// retries: the sender writes the next batch only once every message of the
// last one is acknowledged or given up, and a key always maps to the same
// lane. Lanes write concurrently.
type lane struct {
	size, maxBytes int
	linger         time.Duration

	mu     sync.Mutex
	msgs   []kafkago.Message
	bytes  int       // as the writer counts them (messageOverhead)
	sealed bool      // the next message did not fit: the open batch is full
	opened time.Time // when the open batch got its first message (wall clock)
	closed bool

	wake  chan struct{} // the sender has something new to look at
	space chan struct{} // the sender took a batch: a full lane has room again
	timer *time.Timer   // the sender's linger timer
}

func newLane(size, maxBytes int, linger time.Duration) *lane {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &lane{size: size, maxBytes: maxBytes, linger: linger,
		wake: make(chan struct{}, 1), space: make(chan struct{}, 1), timer: t}
}

// noLinger makes a lane send only full batches, and what is left when it
// is closed.
const noLinger time.Duration = -1

// poke leaves a token on a one-slot channel, without blocking.
func poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// messageOverhead is what the writer counts for a message beyond its key
// and value (kafka-go: 22 bytes of record fields and a byte for the empty
// header list), rounded up. Counting it here keeps a batch within the
// writer's batch bytes, so the writer never splits one of our batches in
// two for a partition: two requests of which the first could fail and the
// second pass, putting an order's later event before its earlier one.
const messageOverhead = 32

func (l *lane) full() bool { return len(l.msgs) >= l.size || l.sealed }

// add appends m to the open batch, waiting while it is full or m would
// take it over the bytes limit. The sender always takes a full batch in
// the end (it abandons what it cannot write), so the wait ends without a
// context.
func (l *lane) add(m kafkago.Message) {
	size := len(m.Key) + len(m.Value) + messageOverhead
	l.mu.Lock()
	for l.full() || (len(l.msgs) > 0 && l.bytes+size > l.maxBytes) {
		if !l.sealed {
			l.sealed = true // m does not fit: the batch goes as it is
			poke(l.wake)
		}
		l.mu.Unlock()
		<-l.space
		l.mu.Lock()
	}
	if len(l.msgs) == 0 {
		l.opened = time.Now()
		l.msgs = make([]kafkago.Message, 0, min(l.size, 1024))
		poke(l.wake)
	}
	l.msgs = append(l.msgs, m)
	l.bytes += size
	if l.full() {
		poke(l.wake)
	}
	l.mu.Unlock()
}

// seal closes the open batch as it is, for the sender to take.
func (l *lane) seal() {
	l.mu.Lock()
	if len(l.msgs) > 0 && !l.sealed {
		l.sealed = true
		poke(l.wake)
	}
	l.mu.Unlock()
}

// close lets the sender flush what is open and then stop.
func (l *lane) close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	poke(l.wake)
}

// take returns the next batch to write: the open one once it is full, its
// linger is over, or the lane is closed. It returns nil when the lane is
// closed and empty. Only the lane's sender calls it.
func (l *lane) take() []kafkago.Message {
	for {
		l.mu.Lock()
		n := len(l.msgs)
		var wait time.Duration
		if n > 0 && l.linger != noLinger {
			wait = time.Until(l.opened.Add(l.linger))
		}
		if n > 0 && (l.closed || l.full() || (l.linger != noLinger && wait <= 0)) {
			batch := l.msgs
			l.msgs, l.bytes, l.sealed = nil, 0, false
			l.mu.Unlock()
			poke(l.space)
			return batch
		}
		closed := l.closed
		l.mu.Unlock()
		if closed {
			return nil
		}
		var expired <-chan time.Time
		if n > 0 && l.linger != noLinger {
			l.timer.Reset(wait)
			expired = l.timer.C
		}
		select {
		case <-l.wake:
		case <-expired:
		}
		l.timer.Stop()
	}
}

// maxLanes bounds PRODUCER_LANES; maxAutoLanes bounds the lanes chosen for
// 0. Each lane holds up to two batches (the one in flight and the one
// filling), up to KAFKA_BATCH_BYTES each, so the lanes, not the partitions,
// set the producer's memory: eight lanes of 1 MiB batches stay within its
// 64 MB, where one lane per partition of a 48-partition topic would not.
const (
	maxLanes     = 64
	maxAutoLanes = 8
)

// lanesFor returns how many lanes to run on a topic of the given
// partitions for the configured PRODUCER_LANES. The lanes must divide the
// partitions: a key's lane is murmur2(key) mod lanes and its partition
// murmur2(key) mod partitions, so with a divisor every partition belongs to
// exactly one lane, and only that lane, one batch at a time, writes to it.
// Lanes sharing a partition would let the writer put two lanes' messages
// into one request, and a retry could then put an order's older event
// behind a newer one. 0 picks the largest divisor up to maxAutoLanes: one
// lane per partition on the usual topics, where six lanes measured half as
// fast again as one (more batches in flight, and each lane's batch bound
// for one partition, so requests carry bigger per-partition batches).
func lanesFor(configured, partitions int) (int, error) {
	if configured == 0 {
		for n := min(partitions, maxAutoLanes); n > 1; n-- {
			if partitions%n == 0 {
				return n, nil
			}
		}
		return 1, nil
	}
	if partitions%configured != 0 {
		return 0, &settings.Error{Variable: "PRODUCER_LANES",
			Reason: fmt.Sprintf("is %d: must divide the topic's partition count, %d (or 0 to choose)", configured, partitions)}
	}
	return configured, nil
}

// router maps a key to its lane the way the writer maps it to a partition
// (murmur2, as the Java client does), so that with lanes dividing the
// partitions each partition's batches come from one lane (lanesFor).
type router struct {
	parts []int
	bal   kafkago.Murmur2Balancer
}

func newRouter(lanes int) router {
	parts := make([]int, lanes)
	for i := range parts {
		parts[i] = i
	}
	return router{parts: parts, bal: kafkago.Murmur2Balancer{Consistent: true}}
}

func (r router) lane(key []byte) int {
	if len(r.parts) == 1 {
		return 0
	}
	return r.bal.Balance(kafkago.Message{Key: key}, r.parts...)
}
