package kafka

import (
	"log/slog"
	"strings"
	"testing"
	"time"
)

// A group reader is built from what the caller passes, or not at all:
// a field left empty is named, not filled in with a guess.
func TestNewGroupReaderNamesAMissingField(t *testing.T) {
	good := GroupReaderConfig{Topic: "orders", GroupID: "g", SessionTimeout: 10 * time.Second, QueueCapacity: 100}
	tests := []struct {
		field  string // "" when valid
		mutate func(*GroupReaderConfig)
	}{
		{"", func(*GroupReaderConfig) {}},
		{"Topic", func(c *GroupReaderConfig) { c.Topic = "" }},
		{"GroupID", func(c *GroupReaderConfig) { c.GroupID = "" }},
		{"SessionTimeout", func(c *GroupReaderConfig) { c.SessionTimeout = 0 }},
		{"QueueCapacity", func(c *GroupReaderConfig) { c.QueueCapacity = 0 }},
	}
	for _, tc := range tests {
		name := "without " + tc.field
		if tc.field == "" {
			name = "complete"
		}
		t.Run(name, func(t *testing.T) {
			rc := good
			tc.mutate(&rc)
			// Nothing listens on port 1; a reader that is built is closed
			// before its first attempt matters.
			r, err := NewGroupReader(Config{Brokers: []string{"127.0.0.1:1"}}, rc, slog.New(slog.DiscardHandler))
			if r != nil {
				t.Cleanup(func() { _ = r.Close() })
			}
			if tc.field == "" {
				if err != nil {
					t.Fatalf("NewGroupReader: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "GroupReaderConfig."+tc.field+" ") {
				t.Fatalf("NewGroupReader = %v, want an error naming %s", err, tc.field)
			}
		})
	}
}
