package pipeline

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/orderpipe/orderpipe/internal/ops"
)

// testConfig is the one configuration of the pipeline's tests: every
// field is set, since the pipeline has no defaults, with timings of
// milliseconds so that lingers, retries and drains do not slow the tests.
// A test changes only what it is about.
func testConfig() Config {
	return Config{BulkSize: 100, BulkBytes: 1 << 20, FlushInterval: 20 * time.Millisecond, Workers: 2,
		DrainTimeout: 200 * time.Millisecond, CommitTimeout: time.Second, CommitInterval: 10 * time.Millisecond,
		RetryInitial: time.Millisecond, RetryMax: 5 * time.Millisecond, MaxUncommitted: 100_000}
}

// newPipeline is New for a test, which fails if cfg does not validate.
func newPipeline(tb testing.TB, cfg Config, f Fetcher, ix Indexer, dl DeadLetters, opt Options) *Pipeline {
	tb.Helper()
	p, err := New(cfg, f, ix, dl, opt)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func newReadiness() *ops.Readiness { return ops.NewReadiness("starting") }

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
