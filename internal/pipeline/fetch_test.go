package pipeline

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/orderpipe/orderpipe/internal/generator"
)

// erringFetcher fails its first errs fetches, as kafka-go's reader hands
// over the reports it queued while a broker was away, then serves its
// messages like fakeFetcher.
type erringFetcher struct {
	*fakeFetcher
	mu   sync.Mutex
	errs int
}

func (f *erringFetcher) FetchMessage(ctx context.Context) (kafkago.Message, error) {
	f.mu.Lock()
	if f.errs > 0 {
		f.errs--
		f.mu.Unlock()
		return kafkago.Message{}, errors.New("failed to dial: connect: connection refused")
	}
	f.mu.Unlock()
	return f.fakeFetcher.FetchMessage(ctx)
}

// The messages queued behind reported fetch errors are handled without a
// pause per error: with an hour's retry backoff, a loop that waited on each
// report would never get to them.
func TestMessagesBehindFetchErrorsAreNotHeldBack(t *testing.T) {
	msgs, _ := events(t, 20, generator.Config{}, 3)
	f := &erringFetcher{fakeFetcher: &fakeFetcher{msgs: msgs}, errs: 50}
	cfg := testConfig()
	cfg.RetryInitial, cfg.RetryMax = time.Hour, time.Hour
	health := newTestHealth()
	p := newPipeline(t, cfg, f, newFakeES(), &fakeDLQ{}, Options{Health: health})
	stop := start(t, p)
	eventually(t, "every offset committed", func() bool { return sameOffsets(f.committed(), endOffsets(msgs)) })
	if reason := health.Reason(); strings.Contains(reason, "kafka unavailable") {
		t.Fatalf("readiness still says %q after messages came again", reason)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}
