package kafka

import (
	"log/slog"
	"strings"
	"testing"
	"time"
)

// A group member is built from what the caller passes, or not at all:
// a field left empty is named, not filled in with a guess.
func TestNewGroupMemberNamesAMissingField(t *testing.T) {
	good := GroupMemberConfig{Topic: "orders", GroupID: "g", SessionTimeout: 10 * time.Second, QueueCapacity: 100}
	tests := []struct {
		field  string // "" when valid
		mutate func(*GroupMemberConfig)
	}{
		{"", func(*GroupMemberConfig) {}},
		{"Topic", func(c *GroupMemberConfig) { c.Topic = "" }},
		{"GroupID", func(c *GroupMemberConfig) { c.GroupID = "" }},
		{"SessionTimeout", func(c *GroupMemberConfig) { c.SessionTimeout = 0 }},
		{"QueueCapacity", func(c *GroupMemberConfig) { c.QueueCapacity = 0 }},
	}
	for _, tc := range tests {
		name := "without " + tc.field
		if tc.field == "" {
			name = "complete"
		}
		t.Run(name, func(t *testing.T) {
			rc := good
			tc.mutate(&rc)
			// Nothing listens on port 1; a member that is built is closed
			// before its first attempt matters.
			r, err := NewGroupMember(Config{Brokers: []string{"127.0.0.1:1"}}, rc, slog.New(slog.DiscardHandler))
			if r != nil {
				t.Cleanup(func() { _ = r.Close() })
			}
			if tc.field == "" {
				if err != nil {
					t.Fatalf("NewGroupMember: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "GroupMemberConfig."+tc.field+" ") {
				t.Fatalf("NewGroupMember = %v, want an error naming %s", err, tc.field)
			}
		})
	}
}
