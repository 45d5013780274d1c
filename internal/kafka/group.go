package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

// GroupMemberConfig holds what a consumer group member needs besides the
// connection. Every field is required: the values are the consumer's
// settings (internal/consumer), with no second defaults here.
type GroupMemberConfig struct {
	Topic   string
	GroupID string
	// SessionTimeout is how long the group waits for a silent member (one
	// that was kill -9'd) before handing its partitions to the others.
	SessionTimeout time.Duration
	// QueueCapacity bounds how many messages the member reads ahead:
	// kafka-go's prefetch of each partition, this split between the
	// partitions assigned (at least minPartitionPrefetch each), plus at most
	// handOffCapacity in the queue they share.
	QueueCapacity int
}

// validate names the first field kafka-go would be handed without a value.
func (rc GroupMemberConfig) validate() error {
	switch {
	case rc.Topic == "":
		return errors.New("configure group member: GroupMemberConfig.Topic is empty")
	case rc.GroupID == "":
		return errors.New("configure group member: GroupMemberConfig.GroupID is empty")
	case rc.SessionTimeout <= 0:
		return fmt.Errorf("configure group member: GroupMemberConfig.SessionTimeout is %v, must be positive", rc.SessionTimeout)
	case rc.QueueCapacity <= 0:
		return fmt.Errorf("configure group member: GroupMemberConfig.QueueCapacity is %d, must be positive", rc.QueueCapacity)
	}
	return nil
}

// minPartitionPrefetch is the least kafka-go reads ahead of one partition:
// its own default, so that a member of many partitions still fetches in
// batches.
const minPartitionPrefetch = 100

// handOffCapacity bounds the queue the partition readers share. The read
// ahead is theirs (QueueCapacity split between them); the shared queue only
// smooths the hand-off, so a large one would hold the read-ahead twice
// (about 4 MB more peak RSS at the defaults, in 3 runs on one topic).
const handOffCapacity = 256

// TopicPartition names one partition of a topic.
type TopicPartition struct {
	Topic     string
	Partition int
}

// Fetched is one message a GroupMember delivers, with the generation of the
// group that read it (they count up from 1 in each member).
type Fetched struct {
	Message    kafkago.Message
	Generation int64
}

// Revocation names the partitions that a generation of the group no longer
// assigns to this member, which it had in the generation before.
type Revocation struct {
	Generation int64
	Partitions []TopicPartition
}

// ErrNotAssigned is returned by CommitMessages between two generations of
// the group: nothing is assigned, so nothing can be committed; once a
// generation assigns the partitions again the commit can be retried.
var ErrNotAssigned = errors.New("no partitions assigned: the group is rebalancing")

// GroupMember is one member of a consumer group, built on kafka-go's
// ConsumerGroup rather than its group Reader so that it reads each assigned
// partition on its own: one partition can be paused (its messages stay in
// Kafka) while the others flow, and when a new generation of the group
// takes partitions away the member says which, before it reads anything.
//
// Per generation it first hands over, on Revocations, the partitions the
// generation took away, then runs one partition reader per assigned
// partition, each
// starting at the partition's committed offset (the first offset for a new
// group), feeding one queue; messages of a generation that ended are
// dropped from that queue, as the next generation reads their partitions
// again from the committed offset. Commits go to the current generation,
// only for the partitions it assigns to this member, as given: offset + 1
// of the last message handled, what Kafka calls the committed offset.
type GroupMember struct {
	topic    string
	group    *kafkago.ConsumerGroup
	reader   kafkago.ReaderConfig // of each partition reader, Partition set per reader
	prefetch int                  // QueueCapacity, split between the partitions

	queue chan delivery
	// revocations is unbuffered: a revocation is handed over before the
	// generation reads anything; subscribed says someone takes them.
	revocations chan Revocation
	subscribed  atomic.Bool
	cancel      context.CancelFunc // ends run
	done        chan struct{}      // closed by Close
	// commitSlot holds one commit at a time: two in flight could land in
	// either order, and Kafka keeps the last one.
	commitSlot chan struct{}
	wg         sync.WaitGroup // run and the commit calls

	mu     sync.Mutex
	closed bool
	gen    *kafkago.Generation // current; nil between generations
	seq    int64               // counts generations; tags deliveries
	owned  map[int]bool        // partitions the current generation assigns
	gates  map[int]*gate       // of the current generation's partitions
}

// delivery is one item of the member's queue.
type delivery struct {
	seq int64 // the generation that read it; 0 for an error joining the group
	msg kafkago.Message
	err error
}

// NewGroupMember joins group rc.GroupID on rc.Topic: the same settings as
// kafka-go's group Reader would have (heartbeats at a tenth of the session,
// rebalances waited for up to three sessions, a new group starting at the
// first offset so that nothing produced before the first start is skipped,
// partitions added to the topic picked up without a restart), and kafka-go's
// error lines rate-limited on log. It commits only when told to.
func NewGroupMember(cfg Config, rc GroupMemberConfig, log *slog.Logger) (*GroupMember, error) {
	dialer, err := cfg.Dialer()
	if err != nil {
		return nil, err
	}
	if err := rc.validate(); err != nil {
		return nil, err
	}
	errLog := newLimitedLogger(log.With("topic", rc.Topic, "group", rc.GroupID), slog.LevelWarn, time.Second)
	group, err := kafkago.NewConsumerGroup(kafkago.ConsumerGroupConfig{
		ID:                     rc.GroupID,
		Brokers:                cfg.Brokers,
		Dialer:                 dialer,
		Topics:                 []string{rc.Topic},
		SessionTimeout:         rc.SessionTimeout,
		HeartbeatInterval:      rc.SessionTimeout / 10,
		RebalanceTimeout:       rc.SessionTimeout * 3,
		JoinGroupBackoff:       time.Second,
		StartOffset:            kafkago.FirstOffset,
		WatchPartitionChanges:  true,
		PartitionWatchInterval: 10 * time.Second,
		ErrorLogger:            errLog,
	})
	if err != nil {
		return nil, fmt.Errorf("configure group member: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &GroupMember{
		topic: rc.Topic, group: group, prefetch: rc.QueueCapacity,
		reader: kafkago.ReaderConfig{Brokers: cfg.Brokers, Topic: rc.Topic, Dialer: dialer,
			MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 250 * time.Millisecond, ErrorLogger: errLog},
		queue: make(chan delivery, min(rc.QueueCapacity, handOffCapacity)), revocations: make(chan Revocation), cancel: cancel, done: make(chan struct{}),
		commitSlot: make(chan struct{}, 1),
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.run(ctx)
	}()
	return m, nil
}

// run takes each generation of the group in turn until ctx ends: it tells
// the queue which partitions the generation took away, then reads each
// partition the generation assigns.
func (m *GroupMember) run(ctx context.Context) {
	var owned map[int]bool
	for {
		gen, err := m.group.Next(ctx)
		switch {
		case ctx.Err() != nil || errors.Is(err, kafkago.ErrGroupClosed):
			return
		case err != nil:
			// kafka-go retries the join itself, after JoinGroupBackoff;
			// the pipeline reports the error meanwhile.
			if !m.put(ctx, delivery{err: fmt.Errorf("join group: %w", err)}) {
				return
			}
			continue
		}
		assigned := gen.Assignments[m.topic]
		now := make(map[int]bool, len(assigned))
		gates := make(map[int]*gate, len(assigned))
		for _, a := range assigned {
			now[a.ID] = true
			gates[a.ID] = &gate{}
		}
		m.mu.Lock()
		m.seq++
		seq := m.seq
		m.gen, m.owned, m.gates = gen, now, gates
		m.mu.Unlock()

		var revoked []TopicPartition
		for p := range owned {
			if !now[p] {
				revoked = append(revoked, TopicPartition{Topic: m.topic, Partition: p})
			}
		}
		owned = now
		if len(revoked) > 0 && m.subscribed.Load() {
			slices.SortFunc(revoked, func(a, b TopicPartition) int { return a.Partition - b.Partition })
			// Handed over before this generation reads anything, so
			// that no message of it can reach books that are dropped.
			select {
			case m.revocations <- Revocation{Generation: seq, Partitions: revoked}:
			case <-ctx.Done():
				return
			}
		}
		prefetch := max(m.prefetch/max(len(assigned), 1), minPartitionPrefetch)
		for _, a := range assigned {
			gen.Start(func(gctx context.Context) { m.readPartition(gctx, seq, a, prefetch, gates[a.ID]) })
		}
		// The generation ends when any of its goroutines returns (kafka-go
		// ends it too on a failed heartbeat): from then on nothing is
		// assigned, until the next one.
		gen.Start(func(gctx context.Context) {
			<-gctx.Done()
			m.mu.Lock()
			if m.seq == seq {
				m.gen, m.owned, m.gates = nil, nil, nil
			}
			m.mu.Unlock()
		})
	}
}

// put queues d unless ctx ends first.
func (m *GroupMember) put(ctx context.Context, d delivery) bool {
	select {
	case m.queue <- d:
		return true
	case <-ctx.Done():
		return false
	}
}

// readPartition reads one partition for one generation, from the offset the
// generation assigned it at, into the queue, passing g before each message.
func (m *GroupMember) readPartition(ctx context.Context, seq int64, a kafkago.PartitionAssignment, prefetch int, g *gate) {
	rc := m.reader
	rc.Partition, rc.QueueCapacity = a.ID, prefetch
	r := kafkago.NewReader(rc)
	defer r.Close()
	// a.Offset is the committed offset, or FirstOffset for a partition
	// the group never committed.
	if err := r.SetOffset(a.Offset); err != nil {
		m.put(ctx, delivery{seq: seq, err: fmt.Errorf("start partition %d at offset %d: %w", a.ID, a.Offset, err)})
		return
	}
	for g.pass(ctx) {
		msg, err := r.FetchMessage(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			err = fmt.Errorf("fetch partition %d: %w", a.ID, err)
		}
		if !m.put(ctx, delivery{seq: seq, msg: msg, err: err}) {
			return
		}
	}
}

// Fetch returns the next message of a partition this member is assigned,
// with the generation that read it. It returns io.EOF once the member is
// closed, and the errors of the partition readers and of joining the group
// as they come (kafka-go retries on its own).
func (m *GroupMember) Fetch(ctx context.Context) (Fetched, error) {
	for {
		select {
		case <-ctx.Done():
			return Fetched{}, ctx.Err()
		case <-m.done:
			return Fetched{}, fmt.Errorf("fetch: group member closed: %w", io.EOF)
		case d := <-m.queue:
			if d.err != nil && d.seq == 0 {
				return Fetched{}, d.err
			}
			m.mu.Lock()
			current := d.seq == m.seq && m.gen != nil
			m.mu.Unlock()
			if !current {
				continue // the next generation reads it again from the committed offset
			}
			if d.err != nil {
				return Fetched{}, d.err
			}
			return Fetched{Message: d.msg, Generation: d.seq}, nil
		}
	}
}

// FetchMessage is Fetch without the generation.
func (m *GroupMember) FetchMessage(ctx context.Context) (kafkago.Message, error) {
	f, err := m.Fetch(ctx)
	return f.Message, err
}

// Revocations delivers, from the first call on, a Revocation for each
// generation that took partitions away from this member, before that
// generation reads anything: a message of a revoked partition that Fetch
// returns afterwards with an older generation was read before the
// partition was lost. The member waits for each to be taken (or for Close).
func (m *GroupMember) Revocations() <-chan Revocation {
	m.subscribed.Store(true)
	return m.revocations
}

// Pause stops reading a partition of the current generation until Resume;
// messages already read ahead are still delivered, the rest stay in Kafka.
// A new generation reads every partition it assigns, paused before or not.
func (m *GroupMember) Pause(topic string, partition int) {
	if g := m.gate(topic, partition); g != nil {
		g.pause()
	}
}

// Resume reads a paused partition again, from where it stopped.
func (m *GroupMember) Resume(topic string, partition int) {
	if g := m.gate(topic, partition); g != nil {
		g.resume()
	}
}

func (m *GroupMember) gate(topic string, partition int) *gate {
	if topic != m.topic {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.gates[partition]
}

// CommitMessages commits, per partition, the offset after the last of msgs
// (Kafka's committed offset is the next one to read), through the current
// generation and only for the partitions it assigns to this member: a
// partition that moved is its new owner's to commit. Between generations
// it returns ErrNotAssigned. kafka-go's commit takes no context: it runs
// on a goroutine of the member (Close waits for it), bounded by kafka-go's
// own request timeout, and CommitMessages returns when ctx ends.
func (m *GroupMember) CommitMessages(ctx context.Context, msgs ...kafkago.Message) error {
	m.mu.Lock()
	gen, owned, closed := m.gen, m.owned, m.closed
	m.mu.Unlock()
	if closed {
		return fmt.Errorf("commit offsets: group member closed: %w", io.ErrClosedPipe)
	}
	if gen == nil {
		return fmt.Errorf("commit offsets: %w", ErrNotAssigned)
	}
	offsets := map[int]int64{}
	for _, msg := range msgs {
		if msg.Topic == m.topic && owned[msg.Partition] {
			offsets[msg.Partition] = max(offsets[msg.Partition], msg.Offset+1)
		}
	}
	if len(offsets) == 0 {
		return nil
	}
	select {
	case m.commitSlot <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("commit offsets: %w", ctx.Err())
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		<-m.commitSlot
		return fmt.Errorf("commit offsets: group member closed: %w", io.ErrClosedPipe)
	}
	m.wg.Add(1)
	m.mu.Unlock()
	result := make(chan error, 1)
	go func() {
		defer m.wg.Done()
		defer func() { <-m.commitSlot }()
		result <- gen.CommitOffsets(map[string]map[int]int64{m.topic: offsets})
	}()
	select {
	case err := <-result:
		if err != nil {
			return fmt.Errorf("commit offsets of generation %d: %w", gen.ID, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("commit offsets: %w", ctx.Err())
	}
}

// Close leaves the group: the current generation ends (its partition
// readers stop), the coordinator is told this member left, so its
// partitions move at once rather than after the session timeout, and
// every goroutine of the member has returned.
func (m *GroupMember) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	close(m.done)
	m.mu.Unlock()
	m.cancel()
	err := m.group.Close()
	m.wg.Wait()
	if err != nil {
		return fmt.Errorf("leave group: %w", err)
	}
	return nil
}

// gate lets a partition reader through unless its partition is paused.
type gate struct {
	mu     sync.Mutex
	paused chan struct{} // nil when open; closed on resume
}

func (g *gate) pause() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.paused == nil {
		g.paused = make(chan struct{})
	}
}

func (g *gate) resume() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.paused != nil {
		close(g.paused)
		g.paused = nil
	}
}

// pass waits until the gate is open and reports true, or false when ctx
// ends first.
func (g *gate) pass(ctx context.Context) bool {
	for {
		g.mu.Lock()
		w := g.paused
		g.mu.Unlock()
		if w == nil {
			return ctx.Err() == nil
		}
		select {
		case <-w:
		case <-ctx.Done():
			return false
		}
	}
}
