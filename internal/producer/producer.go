// Package producer is the producing side of orderpipe: it paces the order
// generator, batches its events and hands them to Kafka, and counts a message
// as produced only once Kafka acknowledged it.
//
// The generator loop owns the generator and the clock: it emits follow-up
// events as they come due and creates new orders at the configured rate.
// Each event goes to the lane of its key (lane.go; one lane by default):
// one sender per lane writes one batch at a time while the next fills, and
// retries exactly the messages that failed before it writes the next, so
// one order's events stay in order even across retries, lanes write
// concurrently, and a slow or absent broker applies back-pressure to the
// generator instead of growing a queue. On shutdown the
// generator stops first; the senders then flush what is buffered within a
// deadline, and whatever they could not deliver is reported as abandoned,
// never as produced.
//
// KafkaWriter connects a Producer to a kafka-go writer. Assemble builds
// the whole producer from its settings (Config: defaults declared once,
// the generator, the traffic shape, the writer, the metrics), and
// Daemon.Run creates the topic, produces and logs progress: the producer
// command and the tests that run whole producers share that wiring.
package producer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/orderpipe/orderpipe/internal/generator"
	"github.com/orderpipe/orderpipe/internal/ops"
	"github.com/orderpipe/orderpipe/internal/traffic"
)

// Settings shape a run.
type Settings struct {
	// Rate is new orders per second; 0 means as fast as Kafka takes them.
	// Shape, when set, moves the rate over time instead (Rate is then only
	// checked, not used).
	Rate  float64
	Shape traffic.Shape
	// CatchUp creates the orders missed while the broker held creation
	// back by more than a second, in a burst; by default they are dropped
	// and counted in Stats.Skipped.
	CatchUp bool
	// Count is how many new orders to create; 0 means until stopped. When it
	// is reached the producer still emits the follow-ups already scheduled,
	// as they come due, and then returns.
	Count int64
	// BackfillDays of history are emitted first at full speed, with event
	// times spread over the past, so that dashboards are full at once.
	BackfillDays int
	// BackfillOrdersPerDay sets the history's density.
	BackfillOrdersPerDay int
	// BatchSize and BatchBytes close a batch; Linger is the longest the first
	// message of a batch waits for more. All three are required: they are
	// the writer's settings (KAFKA_BATCH_*), with no second defaults here.
	BatchSize  int
	BatchBytes int
	Linger     time.Duration
	// Lanes is how many batches are written at once, one per lane, each
	// lane owning the keys murmur2 maps to it; 0 means 1. Daemon.Run sets
	// it from PRODUCER_LANES and the topic's partitions (lanesFor): a
	// divisor of the partition count, so no two lanes share a partition.
	Lanes int
	// ShutdownTimeout bounds the flush after the context ends.
	ShutdownTimeout time.Duration
}

// Writer delivers a batch, retrying failures until all are acknowledged or
// ctx ends, and returns the messages Kafka acknowledged. They need not be a
// prefix of msgs: when one partition fails, its messages are missing from
// throughout the batch, and only the returned ones count as produced.
type Writer interface {
	WriteAll(ctx context.Context, msgs []kafkago.Message) (acked []kafkago.Message, err error)
}

// Stats are the running totals, safe to read while the producer runs.
type Stats struct {
	Produced     atomic.Int64 // acknowledged by Kafka
	Bytes        atomic.Int64 // value bytes acknowledged
	Abandoned    atomic.Int64 // buffered at shutdown and not delivered in time
	Orders       atomic.Int64 // new orders generated (live and backfill)
	FollowUps    atomic.Int64 // lifecycle events generated
	Malformed    atomic.Int64 // deliberately malformed messages generated
	Pending      atomic.Int64 // follow-ups scheduled but not yet due
	BackfillDone atomic.Bool
	Live         atomic.Int64 // new orders created live (after the backfill)
	Skipped      atomic.Int64 // new orders not created because creation fell behind (see Settings.CatchUp)
}

// Observer is told about each batch outcome (for metrics). BatchWritten
// and Resending are called from every lane's sender, concurrently.
type Observer interface {
	// BatchWritten gets the messages Kafka acknowledged.
	BatchWritten(msgs []kafkago.Message, took time.Duration)
	Generated(ev generator.Event)
	// Resending is told, by KafkaWriter, of messages about to be sent
	// again, mayDuplicate of which a broker may have stored already.
	Resending(messages, mayDuplicate int)
}

// Producer runs the generator against a Writer.
type Producer struct {
	gen   *generator.Generator
	out   Writer
	set   Settings
	log   *slog.Logger
	obs   Observer
	now   func() time.Time
	Stats Stats
	// liveFrom and liveUntil bound the live phase (Unix ns, 0 while not
	// yet known), the span in which the shape asks for orders: see Asked.
	liveFrom, liveUntil atomic.Int64
}

// Asked is how many live orders the shape asked for between from and to:
// what Stats.Live would have grown by had Kafka always kept up. It is the
// shape's integral over the part of the span in the live phase (after the
// backfill, until the count is reached or the run ends), taken from the
// clock and not from the generator, so that a generator held back by a
// stalled broker does not hold back the target with it. 0 at full speed,
// which has no target.
func (p *Producer) Asked(from, to time.Time) float64 {
	ns := p.liveFrom.Load()
	if ns == 0 {
		return 0
	}
	start := time.Unix(0, ns)
	if until := p.liveUntil.Load(); until != 0 && to.After(time.Unix(0, until)) {
		to = time.Unix(0, until)
	}
	if from.Before(start) {
		from = start
	}
	return traffic.Asked(p.set.Shape, start, from.Sub(start), to.Sub(start))
}

// New returns a Producer. obs may be nil.
func New(gen *generator.Generator, out Writer, set Settings, log *slog.Logger, obs Observer) (*Producer, error) {
	switch {
	case set.Rate < 0:
		return nil, errors.New("producer: rate must not be negative")
	case set.Count < 0:
		return nil, errors.New("producer: count must not be negative")
	case set.BatchSize < 1:
		return nil, errors.New("producer: batch size must be at least 1")
	case set.BatchBytes < 1:
		return nil, errors.New("producer: batch bytes must be at least 1")
	case set.Linger <= 0:
		return nil, errors.New("producer: linger must be positive")
	case set.Lanes < 0:
		return nil, errors.New("producer: lanes must not be negative")
	}
	set.Lanes = max(set.Lanes, 1)
	if set.Shape == nil && set.Rate > 0 {
		set.Shape = traffic.Constant{Rate: set.Rate}
	}
	if obs == nil {
		obs = nopObserver{}
	}
	return &Producer{gen: gen, out: out, set: set, log: log, obs: obs, now: time.Now}, nil
}

type nopObserver struct{}

func (nopObserver) BatchWritten([]kafkago.Message, time.Duration) {}
func (nopObserver) Generated(generator.Event)                     {}
func (nopObserver) Resending(int, int)                            {}

// Run produces until the count is reached or ctx ends, then flushes what is
// buffered within ShutdownTimeout. It returns nil on a clean stop, and an
// error wrapping ErrAbandoned when buffered messages could not be delivered:
// in time at shutdown, or at all because the Writer failed for good (then
// generation stops at once and the error says why).
func (p *Producer) Run(ctx context.Context) error {
	genCtx, stopGen := context.WithCancel(ctx)
	defer stopGen()
	// The senders outlive ctx by up to ShutdownTimeout, to flush.
	sendCtx, cancelSend := ops.Outlive(ctx, p.set.ShutdownTimeout)
	defer cancelSend()

	lanes := make([]*lane, p.set.Lanes)
	var failed failure
	abandoned := make([]int64, len(lanes))
	var senders sync.WaitGroup
	for i := range lanes {
		linger := p.set.Linger
		if p.set.Shape == nil {
			// At full speed more is always coming: a batch goes when
			// full, as the producer before the lanes sent it, not after
			// a linger that only shrinks requests; the generator seals
			// the open batches whenever it stops creating (generate).
			linger = noLinger
		}
		lanes[i] = newLane(p.set.BatchSize, p.set.BatchBytes, linger)
		senders.Go(func() { abandoned[i] = p.send(sendCtx, stopGen, lanes[i], &failed) })
	}
	p.generate(genCtx, &output{lanes: lanes, route: newRouter(len(lanes))})
	for _, l := range lanes {
		l.close()
	}
	senders.Wait()

	var total int64
	for _, n := range abandoned {
		total += n
	}
	if total == 0 {
		return nil
	}
	p.Stats.Abandoned.Add(total)
	if cause := failed.cause(); cause != nil {
		return fmt.Errorf("write to kafka: %w: %d messages: %w", ErrAbandoned, total, cause)
	}
	return fmt.Errorf("flush at shutdown: %w: %d messages", ErrAbandoned, total)
}

// ErrAbandoned reports generated messages that were never delivered.
var ErrAbandoned = errors.New("producer: buffered messages abandoned at shutdown")

// failure is the first write that failed for good, shared by the senders:
// once one lane's write fails while ctx is alive, every lane abandons what
// is still buffered.
type failure struct {
	mu  sync.Mutex
	err error
}

func (f *failure) set(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		f.err = err
	}
}

func (f *failure) cause() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// send writes l's batches, one at a time, until the lane is closed and
// empty, and returns how many messages it abandoned. A write that fails
// while ctx is alive failed for good (the Writer retries what may pass): it
// stops generation, and everything still buffered is abandoned with that
// cause.
func (p *Producer) send(ctx context.Context, stopGen context.CancelFunc, l *lane, failed *failure) (abandoned int64) {
	for {
		batch := l.take()
		if batch == nil {
			return abandoned
		}
		if ctx.Err() != nil || failed.cause() != nil {
			abandoned += int64(len(batch))
			continue
		}
		start := time.Now()
		acked, err := p.out.WriteAll(ctx, batch)
		var bytes int64
		for _, m := range acked {
			bytes += int64(len(m.Value))
		}
		p.Stats.Produced.Add(int64(len(acked)))
		p.Stats.Bytes.Add(bytes)
		p.obs.BatchWritten(acked, time.Since(start))
		if err != nil {
			abandoned += int64(len(batch) - len(acked))
			if ctx.Err() == nil {
				failed.set(err)
				stopGen()
			}
		}
	}
}

// output hands each event to the lane of its key.
type output struct {
	lanes []*lane
	route router
}

// seal sends every lane's open batch as it is.
func (o *output) seal() {
	for _, l := range o.lanes {
		l.seal()
	}
}

func (o *output) add(ev generator.Event) {
	o.lanes[o.route.lane(ev.Key)].add(kafkago.Message{Key: ev.Key, Value: ev.Value})
}

func (p *Producer) emit(out *output, ev generator.Event) {
	switch {
	case ev.Malformed != "":
		p.Stats.Malformed.Add(1)
	case ev.Version > 1:
		p.Stats.FollowUps.Add(1)
	default:
		p.Stats.Orders.Add(1)
	}
	p.obs.Generated(ev)
	out.add(ev)
}

func (p *Producer) drainDue(out *output, now time.Time) {
	for {
		ev, ok := p.gen.Due(now)
		if !ok {
			break
		}
		p.emit(out, ev)
	}
	p.Stats.Pending.Store(int64(p.gen.Pending()))
}

// fullSpeedStride is how many orders the generator creates between two
// looks at the clock (for follow-ups coming due, the target rate and the
// lag) and at ctx.
const fullSpeedStride = 64

// pausedPoll is how often a shape whose rate is 0 is looked at again.
const pausedPoll = 100 * time.Millisecond

// maxLag is how far creation may fall behind its schedule before the
// missed orders are dropped (unless CatchUp): a stalled broker must not
// turn into a burst afterwards.
const maxLag = time.Second

func (p *Producer) generate(ctx context.Context, out *output) {
	if p.set.BackfillDays > 0 {
		p.backfill(ctx, out)
	}
	p.Stats.BackfillDone.Store(true)

	start := p.now()
	p.liveFrom.Store(start.UnixNano())
	defer func() { p.liveUntil.CompareAndSwap(0, p.now().UnixNano()) }()
	// Without a shape (rate 0) orders are created as fast as Kafka takes
	// them; with one, rate is its target at t.
	fullSpeed := p.set.Shape == nil
	rate := func(t time.Time) float64 { return p.set.Shape.At(t.Sub(start), t) }
	nextCreate := start
	var created int64
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if ctx.Err() != nil {
			return
		}
		now := p.now()
		p.drainDue(out, now)
		countDone := p.set.Count > 0 && created >= p.set.Count
		if countDone {
			p.liveUntil.CompareAndSwap(0, now.UnixNano())
		}
		if countDone && p.gen.Pending() == 0 {
			return
		}
		if !countDone && !fullSpeed {
			target := rate(now)
			if lag := now.Sub(nextCreate); lag > maxLag && !p.set.CatchUp {
				p.Stats.Skipped.Add(int64(lag.Seconds() * target))
				nextCreate = now
			}
		}
		if !countDone {
			for n := 0; (fullSpeed || !nextCreate.After(now)) && (p.set.Count == 0 || created < p.set.Count); n++ {
				if n == fullSpeedStride {
					break // look at the clock (and the lag) again
				}
				if !fullSpeed {
					r := rate(nextCreate)
					if r <= 0 {
						nextCreate = nextCreate.Add(pausedPoll)
						continue
					}
					// The slot after this one is spaced by the rate
					// at this one: the shape is followed slot by slot.
					nextCreate = nextCreate.Add(time.Duration(float64(time.Second) / r))
				}
				p.emit(out, p.gen.Next(now))
				created++
				p.Stats.Live.Add(1)
				if ctx.Err() != nil {
					return
				}
			}
		}
		if !countDone && (fullSpeed || !nextCreate.After(p.now())) {
			continue // more to create now
		}
		if fullSpeed {
			out.seal() // nothing more is coming right now: send what is open
		}
		// Sleep until the next thing to do: a creation slot or a
		// follow-up coming due. The lanes linger on their own.
		wake := now.Add(time.Second)
		if !countDone {
			wake = nextCreate
		}
		if due, ok := p.gen.NextDue(); ok && due.Before(wake) {
			wake = due
		}
		if d := wake.Sub(p.now()); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		}
	}
}

// backfill emits BackfillDays of history as fast as Kafka takes it. Event
// times follow a daily curve (quiet nights, busy evenings) so the dashboards
// look like a real shop's: the shape's own when it has one (diurnal),
// else a gentle midday swell. Follow-ups due by now are emitted with them,
// later ones stay scheduled for the live phase.
func (p *Producer) backfill(ctx context.Context, out *output) {
	end := p.now()
	start := end.Add(-time.Duration(p.set.BackfillDays) * 24 * time.Hour)
	total := int64(p.set.BackfillDays) * int64(p.set.BackfillOrdersPerDay)
	p.log.Info("backfill started", "days", p.set.BackfillDays, "orders", total, "from", start.UTC().Format(time.RFC3339))
	var emitted int64
	emit := func(at time.Time) bool {
		if ctx.Err() != nil {
			return false
		}
		p.drainDue(out, at)
		p.emit(out, p.gen.Next(at))
		emitted++
		return true
	}
	if daily, ok := p.set.Shape.(traffic.Daily); ok {
		backfillDaily(start, end, float64(p.set.BackfillOrdersPerDay), daily, emit)
	} else {
		span := end.Sub(start)
		for i := int64(0); i < total; i++ {
			if !emit(start.Add(warp(float64(i)/float64(total), p.set.BackfillDays, span))) {
				return
			}
		}
	}
	if ctx.Err() != nil {
		return
	}
	p.drainDue(out, end)
	p.log.Info("backfill done", "orders", emitted, "pending_follow_ups", p.gen.Pending())
}

// backfillDaily calls emit with the creation times of orders from start to
// end whose density follows daily: perDay times its factor, minute by
// minute, spread evenly within each minute. It stops when emit says so.
func backfillDaily(start, end time.Time, perDay float64, daily traffic.Daily, emit func(time.Time) bool) {
	perMinute := perDay / (24 * 60)
	var owed float64
	for t := start; t.Before(end); t = t.Add(time.Minute) {
		owed += perMinute * daily.Factor(t.Add(30*time.Second))
		n := int(owed)
		owed -= float64(n)
		for j := range n {
			at := t.Add(time.Duration((float64(j) + 0.5) / float64(n) * float64(time.Minute)))
			if at.After(end) {
				return
			}
			if !emit(at) {
				return
			}
		}
	}
}

// warp maps an even fraction of the backfill span onto a daily traffic curve,
// so that more orders fall around midday than at night, like a real shop's.
// Within each day y = x + a·sin(2πx) is monotonic for a < 1/(2π), so event
// times still increase with the index.
func warp(frac float64, days int, span time.Duration) time.Duration {
	dayFrac := frac * float64(days)
	day := math.Floor(dayFrac)
	x := dayFrac - day
	y := x + 0.12*math.Sin(2*math.Pi*x)
	return time.Duration((day + y) / float64(days) * float64(span))
}
