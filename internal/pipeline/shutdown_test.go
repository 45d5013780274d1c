package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/internal/generator"
)

// Run returns within DrainTimeout + CommitTimeout of its context ending
// even when every commit hangs until its context ends: the commit in
// flight and the final one share that deadline, and a pending change does
// not earn a commit of its own. This is a correctness bound, the budget
// the consumer splits SHUTDOWN_TIMEOUT by, not a speed claim; the slack
// only covers scheduling on a busy machine, far less than the CommitTimeout
// each extra commit used to add.
func TestShutdownWithinBudgetWhenCommitsHang(t *testing.T) {
	msgs, _ := events(t, 50, generator.Config{}, 3)
	f := &fakeFetcher{msgs: msgs, hangCommits: true}
	c := testConfig()
	c.DrainTimeout, c.CommitTimeout = 200*time.Millisecond, 2*time.Second
	p := newPipeline(t, c, f, newFakeES(), &fakeDLQ{}, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	eventually(t, "a commit in flight", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.commitsEntered > 0
	})
	time.Sleep(c.CommitTimeout / 2) // the hung commit is half way through its own timeout

	stopped := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s of shutdown")
	}
	const slack = 300 * time.Millisecond
	if took, budget := time.Since(stopped), c.DrainTimeout+c.CommitTimeout; took > budget+slack {
		t.Fatalf("Run took %v after shutdown, over its budget %v (+%v scheduling slack)", took, budget, slack)
	}
}
