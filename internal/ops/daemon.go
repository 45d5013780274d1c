package ops

import (
	"time"

	"github.com/orderpipe/orderpipe/internal/settings"
)

// DaemonConfig is how a daemon reports progress and how long it may take to
// stop, embedded in both daemons' settings so that SHUTDOWN_TIMEOUT and
// PROGRESS_INTERVAL, their defaults and their checks are declared once.
// What a daemon does within the shutdown budget is its own: the producer
// flushes what it buffered, the consumer finishes its batches, commits and
// leaves the group.
type DaemonConfig struct {
	ShutdownTimeout  time.Duration `envconfig:"SHUTDOWN_TIMEOUT" default:"15s" desc:"longest shutdown on SIGTERM: the producer flushes what is buffered; the consumer finishes the batches in flight, commits and leaves the group"`
	ProgressInterval time.Duration `envconfig:"PROGRESS_INTERVAL" default:"10s" desc:"how often a progress line is logged"`
}

// Validate reports the first setting a daemon cannot run with, naming its
// variable.
func (c DaemonConfig) Validate() error {
	switch {
	// Under a second no flush, commit or group leave has a chance, and
	// the consumer splits this budget three ways.
	case c.ShutdownTimeout < time.Second:
		return &settings.Error{Variable: "SHUTDOWN_TIMEOUT", Reason: "must be at least 1s"}
	case c.ProgressInterval <= 0:
		return &settings.Error{Variable: "PROGRESS_INTERVAL", Reason: "must be positive"}
	}
	return nil
}
