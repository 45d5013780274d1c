package e2e_test

import (
	"strings"
	"testing"

	"github.com/orderpipe/orderpipe/internal/e2e"
	"github.com/orderpipe/orderpipe/internal/servicetest"
)

// TestFeaturesLacks: the suite skips a case whose needs the run lacks, so
// the single node never runs a node kill and a small cluster never kills
// a node it cannot spare; and runs the rest.
func TestFeaturesLacks(t *testing.T) {
	full := &servicetest.Cluster{KafkaNodes: 3, ESNodes: 2}
	small := &servicetest.Cluster{KafkaNodes: 1, ESNodes: 2}
	tests := []struct {
		name     string
		features e2e.Features
		c        e2e.Case
		lack     string // a word of the reason; "" when the case runs
	}{
		{"no fault on the single node", e2e.Features{}, e2e.Case{}, ""},
		{"broker kill on the single node", e2e.Features{}, e2e.Case{KafkaNodes: 3}, "cluster"},
		{"node kill on the single node", e2e.Features{}, e2e.Case{ESNodes: 2}, "cluster"},
		{"broker kill on one broker", e2e.Features{Cluster: small}, e2e.Case{KafkaNodes: 3}, "3 Kafka"},
		{"node kill on a small cluster", e2e.Features{Cluster: small}, e2e.Case{ESNodes: 2}, ""},
		{"broker kill on the cluster", e2e.Features{Cluster: full}, e2e.Case{KafkaNodes: 3}, ""},
		{"Elasticsearch stop on the shared node", e2e.Features{}, e2e.Case{NeedsOwnES: true}, "of its own"},
		{"Elasticsearch stop on its own node", e2e.Features{ESURL: "http://127.0.0.1:1"}, e2e.Case{NeedsOwnES: true}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.features.Lacks(tc.c)
			if (got == "") != (tc.lack == "") || !strings.Contains(got, tc.lack) {
				t.Errorf("Lacks = %q, want one naming %q", got, tc.lack)
			}
		})
	}
}
