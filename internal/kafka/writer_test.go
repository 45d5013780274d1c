package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"github.com/segmentio/kafka-go/protocol/produce"

	"github.com/orderpipe/orderpipe/internal/retry"
)

// scriptedWriter answers each WriteMessages call with the next scripted
// answer (a function of the messages sent) and records what was sent.
type scriptedWriter struct {
	mu      sync.Mutex
	calls   [][]string // values sent, per call
	answers []func(msgs []kafkago.Message) error
}

func (w *scriptedWriter) WriteMessages(ctx context.Context, msgs ...kafkago.Message) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var vals []string
	for _, m := range msgs {
		vals = append(vals, string(m.Value))
	}
	w.calls = append(w.calls, vals)
	if len(w.answers) == 0 {
		return nil
	}
	a := w.answers[0]
	w.answers = w.answers[1:]
	return a(msgs)
}

func values(vals ...string) []kafkago.Message {
	msgs := make([]kafkago.Message, len(vals))
	for i, v := range vals {
		msgs[i] = kafkago.Message{Value: []byte(v)}
	}
	return msgs
}

// failWith fails the messages whose value is in failing with err.
func failWith(err error, failing ...string) func([]kafkago.Message) error {
	return func(msgs []kafkago.Message) error {
		werrs := make(kafkago.WriteErrors, len(msgs))
		for i, m := range msgs {
			for _, f := range failing {
				if string(m.Value) == f {
					werrs[i] = err
				}
			}
		}
		return werrs
	}
}

func TestWriteAllRetriesExactlyTheFailedSubset(t *testing.T) {
	w := &scriptedWriter{answers: []func([]kafkago.Message) error{
		failWith(kafkago.NotLeaderForPartition, "b", "d"),
		failWith(kafkago.RequestTimedOut, "d"),
	}}
	var retries []int
	acked, err := WriteAll(context.Background(), w, values("a", "b", "c", "d"), func(r Resend) {
		retries = append(retries, r.Messages)
	})
	if err != nil || fmt.Sprint(valuesOf(acked)) != "[a b c d]" {
		t.Fatalf("WriteAll = %v, %v; want all four, nil", valuesOf(acked), err)
	}
	want := [][]string{{"a", "b", "c", "d"}, {"b", "d"}, {"d"}}
	if fmt.Sprint(w.calls) != fmt.Sprint(want) {
		t.Fatalf("calls %v, want %v", w.calls, want)
	}
	if fmt.Sprint(retries) != "[2 1]" {
		t.Fatalf("onRetry saw %v failed, want [2 1]", retries)
	}
}

func TestWriteAllRetriesNetworkErrors(t *testing.T) {
	netErr := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	w := &scriptedWriter{answers: []func([]kafkago.Message) error{
		func([]kafkago.Message) error { return netErr },
		func([]kafkago.Message) error { return kafkago.LeaderNotAvailable },
		func([]kafkago.Message) error { return kafkago.Unknown },
	}}
	acked, err := WriteAll(context.Background(), w, values("a", "b"), nil)
	if err != nil || len(acked) != 2 || len(w.calls) != 4 {
		t.Fatalf("WriteAll = %v, %v after %d calls; want a and b, nil after 4", valuesOf(acked), err, len(w.calls))
	}
}

func TestWriteAllReturnsPermanentErrorsAtOnce(t *testing.T) {
	tests := []struct {
		name    string
		answer  func([]kafkago.Message) error
		wantAck string
		wantErr error
	}{
		{"authorization", func([]kafkago.Message) error { return kafkago.TopicAuthorizationFailed }, "[]", kafkago.TopicAuthorizationFailed},
		{"wrapped authorization", func([]kafkago.Message) error {
			return fmt.Errorf("sasl: %w", kafkago.SASLAuthenticationFailed)
		}, "[]", kafkago.SASLAuthenticationFailed},
		{"broker refuses one record as too large", failWith(kafkago.MessageSizeTooLarge, "b"), "[a c]", kafkago.MessageSizeTooLarge},
		{"one permanent among temporary", func(msgs []kafkago.Message) error {
			return kafkago.WriteErrors{kafkago.NotLeaderForPartition, nil, kafkago.InvalidTopic}
		}, "[b]", kafkago.InvalidTopic},
		{"message over BatchBytes", func(msgs []kafkago.Message) error {
			return kafkago.MessageTooLargeError{Message: msgs[1], Remaining: []kafkago.Message{msgs[0], msgs[2]}}
		}, "[]", kafkago.MessageSizeTooLarge},
		{"closed writer", func([]kafkago.Message) error { return io.ErrClosedPipe }, "[]", io.ErrClosedPipe},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := &scriptedWriter{answers: []func([]kafkago.Message) error{tc.answer}}
			retried := false
			acked, err := WriteAll(context.Background(), w, values("a", "b", "c"), func(Resend) { retried = true })
			if !retry.IsPermanent(err) || !errors.Is(err, tc.wantErr) {
				t.Fatalf("WriteAll error %v, want a permanent error and %v", err, tc.wantErr)
			}
			if got := fmt.Sprint(valuesOf(acked)); got != tc.wantAck {
				t.Errorf("acknowledged %s, want %s", got, tc.wantAck)
			}
			if retried || len(w.calls) != 1 {
				t.Errorf("a permanent error was retried (%d calls)", len(w.calls))
			}
		})
	}
}

// The real writer refuses a message over BatchBytes before any I/O; WriteAll
// must not retry that forever.
func TestWriteAllMessageOverBatchBytesWithTheRealWriter(t *testing.T) {
	w := &kafkago.Writer{Addr: kafkago.TCP("127.0.0.1:1"), Topic: "t", BatchBytes: 64}
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	msgs := []kafkago.Message{{Key: []byte("big"), Value: []byte(strings.Repeat("x", 100))}}
	_, err := WriteAll(ctx, w, msgs, func(Resend) { cancel() })
	if !retry.IsPermanent(err) || !strings.Contains(err.Error(), `"big"`) {
		t.Fatalf("WriteAll = %v, want a permanent error naming the key", err)
	}
}

func TestWriteAllStopsWhenTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	w := &scriptedWriter{}
	for range 3 {
		w.answers = append(w.answers, failWith(kafkago.NotEnoughReplicas, "b"))
	}
	calls := 0
	acked, err := WriteAll(ctx, w, values("a", "b"), func(Resend) {
		if calls++; calls == 2 {
			cancel() // during the second wait
		}
	})
	if !errors.Is(err, context.Canceled) || retry.IsPermanent(err) {
		t.Fatalf("WriteAll error %v, want context.Canceled", err)
	}
	if got := fmt.Sprint(valuesOf(acked)); got != "[a]" {
		t.Fatalf("acknowledged %s, want [a]", got)
	}
}

// One partition's leader failing fails its messages wherever they stand in
// the batch: what WriteAll reports acknowledged must be exactly the others,
// in their order, whether the run ends in success, a permanent failure or
// the end of the context.
func TestWriteAllReportsExactlyTheAcknowledgedMessages(t *testing.T) {
	tests := []struct {
		name    string
		answers []func([]kafkago.Message) error
		cancel  bool // end the context at the first retry
		wantAck string
		wantErr error
	}{
		{"all at once", nil, false, "[a b c d e f]", nil},
		{"middle ones, then all", []func([]kafkago.Message) error{
			failWith(kafkago.NotLeaderForPartition, "b", "e"),
		}, false, "[a b c d e f]", nil},
		{"middle ones, then one of them for good", []func([]kafkago.Message) error{
			failWith(kafkago.NotLeaderForPartition, "b", "d", "e"),
			failWith(kafkago.InvalidTopic, "d"),
		}, false, "[a b c e f]", retry.ErrPermanent},
		{"middle ones until the context ends", []func([]kafkago.Message) error{
			failWith(kafkago.LeaderNotAvailable, "c", "d"),
		}, true, "[a b e f]", context.Canceled},
		{"a whole attempt, then the middle ones for good", []func([]kafkago.Message) error{
			func([]kafkago.Message) error { return io.ErrUnexpectedEOF },
			failWith(kafkago.TopicAuthorizationFailed, "b", "f"),
		}, false, "[a c d e]", retry.ErrPermanent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			t.Cleanup(cancel)
			w := &scriptedWriter{answers: tc.answers}
			acked, err := WriteAll(ctx, w, values("a", "b", "c", "d", "e", "f"), func(Resend) {
				if tc.cancel {
					cancel()
				}
			})
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("WriteAll error %v, want %v", err, tc.wantErr)
			}
			if got := fmt.Sprint(valuesOf(acked)); got != tc.wantAck {
				t.Fatalf("acknowledged %s, want %s", got, tc.wantAck)
			}
		})
	}
}

// The common case must not pay for the rare one: a batch acknowledged at
// once comes back as the caller's own slice.
func TestWriteAllReturnsTheCallersSliceWhenAllAreAcknowledged(t *testing.T) {
	msgs := values("a", "b")
	acked, err := WriteAll(context.Background(), &scriptedWriter{}, msgs, nil)
	if err != nil || len(acked) != len(msgs) || &acked[0] != &msgs[0] {
		t.Fatalf("WriteAll = %v, %v; want the caller's slice back", valuesOf(acked), err)
	}
}

func valuesOf(msgs []kafkago.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = string(m.Value)
	}
	return out
}

// kafka-go's own resends would be invisible, and one after a lost
// acknowledgement can duplicate a message: WriteAll must be the only loop.
func TestNewWriterLeavesEveryResendToWriteAll(t *testing.T) {
	w, err := NewWriter(Config{Brokers: []string{"127.0.0.1:1"}}, WriterConfig{
		Acks: "all", BatchConfig: BatchConfig{Compression: "lz4", BatchSize: 10, BatchBytes: 1 << 20, BatchTimeout: time.Millisecond},
	}, "t")
	if err != nil {
		t.Fatalf("NewWriter: %v", err)
	}
	t.Cleanup(func() { w.Close() })
	if w.MaxAttempts != 1 {
		t.Fatalf("kafka-go makes %d attempts per batch, want 1", w.MaxAttempts)
	}
}

// A resend duplicates a message only if the failed attempt may have stored
// it: the broker refusing before the append (a leader change, too few
// replicas) cannot, an answer lost on the way back (a dropped connection, a
// timeout) or an error after the append can, and so can anything unknown.
func TestResendsCountWhatMayBeStoredTwice(t *testing.T) {
	reset := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	noLeader := fmt.Errorf("kafka.(*Client).Produce: %w", produce.NewError(protocol.NewErrNoLeader("t", 0)))
	tests := []struct {
		name         string
		answer       func([]kafkago.Message) error
		wantMessages int
		wantMayDup   int
	}{
		{"leader changed", failWith(kafkago.NotLeaderForPartition, "b", "d"), 2, 0},
		{"no leader yet", failWith(kafkago.LeaderNotAvailable, "b"), 1, 0},
		{"too few in sync", failWith(kafkago.NotEnoughReplicas, "a", "b", "c", "d"), 4, 0},
		{"unknown partition", failWith(kafkago.UnknownTopicOrPartition, "c"), 1, 0},
		{"kafka-go knows no leader", failWith(noLeader, "b"), 1, 0},
		{"dead leader refuses the connection", failWith(refused, "a", "c"), 2, 0},
		{"replication timed out", failWith(kafkago.RequestTimedOut, "b", "d"), 2, 2},
		{"appended, then too few in sync", failWith(kafkago.NotEnoughReplicasAfterAppend, "a"), 1, 1},
		{"network exception", failWith(kafkago.NetworkException, "d"), 1, 1},
		{"unknown server error", failWith(kafkago.Unknown, "b"), 1, 1},
		{"connection reset", failWith(fmt.Errorf("kafka.(*Client).Produce: %w", reset), "b", "c"), 2, 2},
		{"connection closed", failWith(io.EOF, "a"), 1, 1},
		{"produce timeout", failWith(context.DeadlineExceeded, "d"), 1, 1},
		{"refused and lost in one attempt", func([]kafkago.Message) error {
			return kafkago.WriteErrors{kafkago.NotLeaderForPartition, nil, kafkago.RequestTimedOut, io.ErrUnexpectedEOF}
		}, 3, 2},
		{"whole call: no connection", func([]kafkago.Message) error { return refused }, 4, 0},
		{"whole call: ended in flight", func([]kafkago.Message) error { return context.DeadlineExceeded }, 4, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := &scriptedWriter{answers: []func([]kafkago.Message) error{tc.answer}}
			var resends []Resend
			acked, err := WriteAll(context.Background(), w, values("a", "b", "c", "d"), func(r Resend) { resends = append(resends, r) })
			if err != nil || len(acked) != 4 {
				t.Fatalf("WriteAll = %v, %v; want all four acknowledged", valuesOf(acked), err)
			}
			if len(resends) != 1 || resends[0].Messages != tc.wantMessages || resends[0].MayDuplicate != tc.wantMayDup {
				t.Fatalf("resends %+v, want one of %d messages, %d of which may duplicate", resends, tc.wantMessages, tc.wantMayDup)
			}

			// The dead-letter path makes single attempts: WriteOnce's
			// error carries the same count.
			w = &scriptedWriter{answers: []func([]kafkago.Message) error{tc.answer}}
			failed, err := WriteOnce(context.Background(), w, values("a", "b", "c", "d"))
			var werr *WriteError
			if !errors.As(err, &werr) || len(failed) != tc.wantMessages || werr.MayDuplicate != tc.wantMayDup {
				t.Fatalf("WriteOnce = %d failed, %v; want %d failed, a *WriteError with %d that may duplicate", len(failed), err, tc.wantMessages, tc.wantMayDup)
			}
		})
	}
}

// Dead letters are committed past once acknowledged, so their writer waits
// for every in-sync replica, and takes no acks setting at all.
func TestDeadLetterWriterRequiresAllAcks(t *testing.T) {
	w, err := NewDeadLetterWriter(Config{Brokers: []string{"127.0.0.1:1"}},
		BatchConfig{Compression: "lz4", BatchSize: 10, BatchBytes: 1 << 20, BatchTimeout: time.Millisecond}, "t.dlq")
	if err != nil {
		t.Fatalf("NewDeadLetterWriter: %v", err)
	}
	t.Cleanup(func() { w.Close() })
	if w.RequiredAcks != kafkago.RequireAll {
		t.Fatalf("dead-letter writer acks = %v, want RequireAll", w.RequiredAcks)
	}
}
