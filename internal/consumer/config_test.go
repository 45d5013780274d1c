package consumer

import (
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/internal/settings"
)

// The defaults make a consumer that runs, and for any valid
// SHUTDOWN_TIMEOUT the pipeline configuration validates, and the drain, the
// final commit and leaving the group each get a share of it and together
// take no more than it.
func TestShutdownBudgetIsSplitWithinShutdownTimeout(t *testing.T) {
	var defaults Config
	if err := settings.Defaults(&defaults); err != nil {
		t.Fatal(err)
	}
	if err := defaults.Validate(); err != nil {
		t.Fatalf("the defaults do not validate: %v", err)
	}
	for _, shutdown := range []time.Duration{defaults.ShutdownTimeout, time.Second, time.Minute} {
		t.Run(shutdown.String(), func(t *testing.T) {
			c := defaults
			c.ShutdownTimeout = shutdown
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			p := c.pipelineConfig()
			if err := p.Validate(); err != nil {
				t.Fatal(err)
			}
			parts := map[string]time.Duration{"drain": p.DrainTimeout, "commit": p.CommitTimeout, "close": c.closeTimeout()}
			var sum time.Duration
			for name, d := range parts {
				if d <= 0 {
					t.Errorf("%s gets %v of %v", name, d, shutdown)
				}
				sum += d
			}
			if sum > shutdown {
				t.Errorf("drain, commit and close take %v, more than SHUTDOWN_TIMEOUT %v", sum, shutdown)
			}
		})
	}
}
