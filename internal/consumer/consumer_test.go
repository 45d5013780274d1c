package consumer

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCloseWithinClosesConcurrentlyAndReportsFailures(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	// Each closer waits for the other to have started: only concurrent
	// closes finish.
	var started sync.WaitGroup
	started.Add(2)
	both := func(err error) func() error {
		return func() error { started.Done(); started.Wait(); return err }
	}
	pending := closeWithin(time.Minute, log, closer{"a", both(nil)}, closer{"b", both(errors.New("broken pipe"))})
	if len(pending) != 0 {
		t.Fatalf("pending %v, want none", pending)
	}
	if !strings.Contains(logs.String(), "b failed") || !strings.Contains(logs.String(), "broken pipe") {
		t.Errorf("the failed close was not logged:\n%s", logs.String())
	}
}

func TestCloseWithinDoesNotWaitForAStuckClose(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	stuck := func() error { <-release; return nil }
	var logs bytes.Buffer
	pending := closeWithin(10*time.Millisecond, slog.New(slog.NewTextHandler(&logs, nil)), closer{"leave the consumer group", stuck})
	if len(pending) != 1 || pending[0] != "leave the consumer group" {
		t.Fatalf("pending %v, want the stuck close", pending)
	}
	if !strings.Contains(logs.String(), "leave the consumer group") {
		t.Errorf("the stuck close was not logged:\n%s", logs.String())
	}
}

// The start-up log shows every setting by variable name, secrets masked.
