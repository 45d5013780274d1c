package servicetest

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/internal/generator"
)

// Orders returns n new orders created at now, each followed at once by its
// whole lifecycle (cfg.LifecycleDelay is forced to 0), so a test gets many
// versions of many orders, and malformed messages at cfg.MalformedShare. The
// seed is logged, so a failing run can be replayed.
func Orders(tb testing.TB, cfg generator.Config, n int, now time.Time) []generator.Event {
	tb.Helper()
	cfg.LifecycleDelay = 0
	g, err := generator.New(cfg)
	if err != nil {
		tb.Fatalf("new generator: %v", err)
	}
	tb.Logf("generator seed %d", g.Seed())
	evs := make([]generator.Event, 0, n*4)
	for range n {
		evs = append(evs, g.Next(now))
		for ev, ok := g.Due(now); ok; ev, ok = g.Due(now) {
			evs = append(evs, ev)
		}
	}
	return evs
}

// SyncBuffer collects what a program writes while the test reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
