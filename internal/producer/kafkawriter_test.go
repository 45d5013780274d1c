package producer

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/orderpipe/orderpipe/internal/ops"
	"github.com/orderpipe/orderpipe/internal/servicetest"
)

// partitionWriter is a kafka.MessageWriter whose answers fail the messages
// of chosen "partitions" (value modulo 3), one answer per call, the way
// kafka-go fails a dead leader's messages wherever they stand in a batch.
type partitionWriter struct {
	answers []error // per call: nil acknowledges all; else partition 1 fails with it
	calls   int
}

func (w *partitionWriter) WriteMessages(_ context.Context, msgs ...kafkago.Message) error {
	w.calls++
	if len(w.answers) == 0 {
		return nil
	}
	err := w.answers[0]
	w.answers = w.answers[1:]
	if err == nil {
		return nil
	}
	werrs := make(kafkago.WriteErrors, len(msgs))
	for i, m := range msgs {
		var n int
		fmt.Sscan(string(m.Value), &n)
		if n%3 == 1 {
			werrs[i] = err
		}
	}
	return werrs
}

func numbered(n int) []kafkago.Message {
	msgs := make([]kafkago.Message, n)
	for i := range msgs {
		msgs[i] = kafkago.Message{Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprint(i))}
	}
	return msgs
}

func TestKafkaWriterCountsResendsAndWhatTheyMayDuplicate(t *testing.T) {
	tests := []struct {
		name         string
		answers      []error
		wantFailed   int64
		wantPossible int64
	}{
		// 9 messages, 3 of them (1, 4, 7) on the failing partition.
		{"acknowledged at once", nil, 0, 0},
		{"leader changed: refused before the append", []error{kafkago.NotLeaderForPartition}, 3, 0},
		{"leader died mid-request: answer lost", []error{io.ErrUnexpectedEOF}, 3, 3},
		{"refused, then timed out after the append", []error{kafkago.NotLeaderForPartition, kafkago.RequestTimedOut}, 6, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			ready := ops.NewReadiness("starting")
			ready.Ready()
			obs := &recordingObserver{}
			k := NewKafkaWriter(&partitionWriter{answers: tc.answers}, slog.New(slog.NewJSONHandler(&logs, nil)), ready, obs)
			msgs := numbered(9)
			acked, err := k.WriteAll(context.Background(), msgs)
			if err != nil || len(acked) != len(msgs) {
				t.Fatalf("WriteAll = %d acknowledged, %v; want all %d", len(acked), err, len(msgs))
			}
			if got := k.Stats.Failed.Load(); got != tc.wantFailed {
				t.Errorf("failed attempts %d, want %d", got, tc.wantFailed)
			}
			if got := k.Stats.PossibleDuplicates.Load(); got != tc.wantPossible {
				t.Errorf("possible duplicates %d, want %d", got, tc.wantPossible)
			}
			if int64(obs.resent) != tc.wantFailed || int64(obs.mayDuplicate) != tc.wantPossible {
				t.Errorf("observer told of %d resent, %d possible duplicates; want %d, %d", obs.resent, obs.mayDuplicate, tc.wantFailed, tc.wantPossible)
			}
			if r := ready.Reason(); r != "" {
				t.Errorf("still not ready after the writes recovered: %q", r)
			}
			if retries := strings.Count(logs.String(), `"msg":"kafka write failed, retrying"`); retries != len(tc.answers) {
				t.Errorf("%d retry warnings for %d failed attempts:\n%s", retries, len(tc.answers), logs.String())
			}
		})
	}
}

// gatedWriter fails the first attempt of each call, once every call has
// made one, as a broker that all the lanes reach at once and that refuses
// them all; later attempts wait for release, so a test can look at the
// writer while some calls are still failing.
type gatedWriter struct {
	calls   sync.WaitGroup // Done at each call's first attempt
	release chan struct{}
	mu      sync.Mutex
	seen    map[string]bool
}

func (w *gatedWriter) WriteMessages(_ context.Context, msgs ...kafkago.Message) error {
	key := string(msgs[0].Key)
	w.mu.Lock()
	first := !w.seen[key]
	w.seen[key] = true
	w.mu.Unlock()
	if first {
		w.calls.Done()
		w.calls.Wait()
		return kafkago.NotLeaderForPartition
	}
	<-w.release
	return nil
}

// Lanes fail together and recover one by one: the writer stays not ready
// until the last of them is through, and says it recovered once.
func TestKafkaWriterRecoversOnceWhenEveryLaneIs(t *testing.T) {
	const lanes = 6
	var logs servicetest.SyncBuffer
	ready := ops.NewReadiness("starting")
	ready.Ready()
	w := &gatedWriter{release: make(chan struct{}), seen: map[string]bool{}}
	w.calls.Add(lanes)
	k := NewKafkaWriter(w, slog.New(slog.NewJSONHandler(&logs, nil)), ready, nil)
	var done sync.WaitGroup
	for lane := range lanes {
		done.Go(func() {
			msgs := []kafkago.Message{{Key: []byte(fmt.Sprint("lane", lane)), Value: []byte("0")}}
			if acked, err := k.WriteAll(context.Background(), msgs); err != nil || len(acked) != 1 {
				t.Errorf("lane %d: %d acknowledged, %v", lane, len(acked), err)
			}
		})
	}
	w.calls.Wait()
	for range lanes - 1 {
		w.release <- struct{}{}
	}
	// Five lanes through, one still resending.
	for k.retrying.Load() != 1 {
		runtime.Gosched()
	}
	if r := ready.Reason(); !strings.Contains(r, "kafka write failing") {
		t.Errorf("readiness %q while a lane still fails, want the kafka write failure", r)
	}
	if n := strings.Count(logs.String(), "kafka writes recovered"); n != 0 {
		t.Errorf("%d recovery lines while a lane still fails, want none", n)
	}
	w.release <- struct{}{}
	done.Wait()
	if r := ready.Reason(); r != "" {
		t.Errorf("readiness %q after every lane recovered, want ready", r)
	}
	if n := strings.Count(logs.String(), "kafka writes recovered"); n != 1 {
		t.Errorf("%d recovery lines for %d lanes recovering, want 1:\n%s", n, lanes, logs.String())
	}
}

// While a partition keeps failing, /readyz says why, and only the
// acknowledged messages come back when the writes are given up.
func TestKafkaWriterReportsTheOutageAndTheAcknowledgedMessages(t *testing.T) {
	ready := ops.NewReadiness("starting")
	ready.Ready()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	w := &partitionWriter{answers: []error{kafkago.LeaderNotAvailable, kafkago.LeaderNotAvailable, kafkago.LeaderNotAvailable}}
	obs := &cancelOnResend{cancel: cancel, after: 2}
	k := NewKafkaWriter(w, slog.New(slog.NewTextHandler(io.Discard, nil)), ready, obs)
	acked, err := k.WriteAll(ctx, numbered(9))
	if err == nil {
		t.Fatal("WriteAll succeeded although partition 1 never did")
	}
	if got := fmt.Sprint(keys(acked)); got != "[0 2 3 5 6 8]" {
		t.Fatalf("acknowledged %s, want the messages of the other partitions", got)
	}
	if r := ready.Reason(); !strings.Contains(r, "kafka write failing") {
		t.Fatalf("readiness %q during the outage, want the kafka write failure", r)
	}
}

// cancelOnResend ends the write's context at its nth resend.
type cancelOnResend struct {
	nopObserver
	cancel context.CancelFunc
	after  int
}

func (c *cancelOnResend) Resending(int, int) {
	if c.after--; c.after == 0 {
		c.cancel()
	}
}
