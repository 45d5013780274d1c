package pipeline

import (
	"math/rand/v2"
	"testing"

	kafkago "github.com/segmentio/kafka-go"
)

func msgAt(partition int, offset int64) *kafkago.Message {
	return &kafkago.Message{Topic: "orders", Partition: partition, Offset: offset}
}

// due returns the commit points as partition -> offset to commit (last
// handled + 1), and records them as committed.
func commitAll(t *testing.T, l *ledger) map[int]int64 {
	t.Helper()
	out := map[int]int64{}
	points := l.due()
	for _, p := range points {
		out[p.msg.Partition] = p.msg.Offset + 1
	}
	l.committed(points)
	return out
}

func TestLedgerCommitsOnlyTheDonePrefix(t *testing.T) {
	tests := []struct {
		name    string
		offsets []int64 // tracked on partition 0, in order
		acked   []int   // indexes into offsets acked
		want    int64   // offset to commit; 0: nothing due
	}{
		{"nothing acked", []int64{0, 1, 2}, nil, 0},
		{"first acked", []int64{0, 1, 2}, []int{0}, 1},
		{"a gap holds the rest", []int64{0, 1, 2, 3}, []int{0, 2, 3}, 1},
		{"out of order, all done", []int64{0, 1, 2, 3}, []int{3, 1, 2, 0}, 4},
		{"offsets with holes (compaction, markers)", []int64{5, 9, 12}, []int{0, 1, 2}, 13},
		{"only a later one", []int64{0, 1}, []int{1}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newLedger()
			ts := make([]ticket, len(tc.offsets))
			for i, o := range tc.offsets {
				ts[i] = l.track(msgAt(0, o))
			}
			for _, i := range tc.acked {
				l.ack([]ticket{ts[i]})
			}
			got := commitAll(t, l)[0]
			if got != tc.want {
				t.Fatalf("commit %d, want %d", got, tc.want)
			}
			if again := commitAll(t, l); len(again) != 0 {
				t.Fatalf("committed %v again; nothing new was acked", again)
			}
		})
	}
}

func TestLedgerPartitionsAreIndependent(t *testing.T) {
	l := newLedger()
	a0, _ := l.track(msgAt(0, 0)), l.track(msgAt(0, 1))
	b0, b1 := l.track(msgAt(1, 10)), l.track(msgAt(1, 11))
	l.ack([]ticket{b0, b1, a0})
	got := commitAll(t, l)
	if got[0] != 1 || got[1] != 12 {
		t.Fatalf("commits %v, want partition 0 at 1 and partition 1 at 12", got)
	}
}

// A partition fetched again from an offset it already tracked was handed
// back at its committed offset after a rebalance: the old epoch's acks must
// no longer move the commit, the new epoch's must.
func TestLedgerRewindStartsANewEpoch(t *testing.T) {
	l := newLedger()
	old := []ticket{l.track(msgAt(0, 100)), l.track(msgAt(0, 101)), l.track(msgAt(0, 102))}
	l.ack(old[:1])
	if got := commitAll(t, l); got[0] != 101 {
		t.Fatalf("commit %v, want 101", got)
	}
	// Rebalance: the reader starts again at the committed offset 101.
	fresh := []ticket{l.track(msgAt(0, 101)), l.track(msgAt(0, 102))}
	l.ack(old[1:]) // the old epoch's batch finishes late
	if got := commitAll(t, l); len(got) != 0 {
		t.Fatalf("the old epoch committed %v after the rewind", got)
	}
	l.ack(fresh[1:])
	if got := commitAll(t, l); len(got) != 0 {
		t.Fatalf("committed %v past the new epoch's unhandled 101", got)
	}
	l.ack(fresh[:1])
	if got := commitAll(t, l); got[0] != 103 {
		t.Fatalf("commit %v, want 103", got)
	}
}

// The ledger's commit point must equal a slow, obvious model's for any
// interleaving of tracking and acking, including after compaction.
func TestLedgerMatchesModel(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		r := rand.New(rand.NewPCG(seed, 0))
		l := newLedger()
		var offsets []int64
		var tickets []ticket
		var done []bool
		next := int64(0)
		for step := 0; step < 5000; step++ {
			if r.IntN(3) > 0 || len(offsets) == 0 {
				next += 1 + int64(r.IntN(2))
				offsets = append(offsets, next)
				tickets = append(tickets, l.track(msgAt(0, next)))
				done = append(done, false)
				continue
			}
			i := r.IntN(len(offsets))
			if !done[i] {
				done[i] = true
				l.ack([]ticket{tickets[i]})
			}
			want := int64(-1)
			for k := range offsets {
				if !done[k] {
					break
				}
				want = offsets[k]
			}
			l.mu.Lock()
			got := l.books[topicPartition{"orders", 0}].safe
			l.mu.Unlock()
			if got != want {
				t.Fatalf("seed %d step %d: safe offset %d, model says %d", seed, step, got, want)
			}
		}
	}
}
