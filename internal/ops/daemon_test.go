package ops

import (
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/internal/settings/settingstest"
)

func TestDaemonConfigValidateNamesTheVariable(t *testing.T) {
	ok := DaemonConfig{ShutdownTimeout: 15 * time.Second, ProgressInterval: 10 * time.Second}
	tests := []struct {
		name     string
		change   func(*DaemonConfig)
		variable string // "" when valid
	}{
		{"valid", func(*DaemonConfig) {}, ""},
		{"shutdown of one second", func(c *DaemonConfig) { c.ShutdownTimeout = time.Second }, ""},
		{"no shutdown time", func(c *DaemonConfig) { c.ShutdownTimeout = 0 }, "SHUTDOWN_TIMEOUT"},
		{"shutdown under a second", func(c *DaemonConfig) { c.ShutdownTimeout = 999 * time.Millisecond }, "SHUTDOWN_TIMEOUT"},
		{"no progress interval", func(c *DaemonConfig) { c.ProgressInterval = 0 }, "PROGRESS_INTERVAL"},
		{"negative progress interval", func(c *DaemonConfig) { c.ProgressInterval = -time.Second }, "PROGRESS_INTERVAL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.change(&c)
			settingstest.AssertNamesVariable(t, c.Validate(), tc.variable)
		})
	}
}
