//go:build cluster

package failover_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/internal/e2e"
	"github.com/orderpipe/orderpipe/internal/generator"
	"github.com/orderpipe/orderpipe/internal/servicetest"
)

// elasticsearchNodeKilled kills an Elasticsearch data node with SIGKILL
// while the consumer indexes into an index with one replica (the
// template's auto_expand_replicas on two nodes), and restarts it 15 s
// later.
func elasticsearchNodeKilled(t *testing.T, c servicetest.Cluster, s *e2e.Stack, orders int) e2e.Outcome {
	cons, r := midStream(t, s, orders)
	// Node 1 is the master the tests never kill (with two nodes the only
	// master-eligible one); the last node holds half of the shards.
	victim := c.ESNodes
	var health struct {
		ActiveShards  int `json:"active_shards"`
		PrimaryShards int `json:"active_primary_shards"`
		Nodes         int `json:"number_of_nodes"`
	}
	s.ES(t, http.MethodGet, "/_cluster/health/"+s.Index, nil, &health)
	if health.ActiveShards != 2*health.PrimaryShards || health.Nodes != c.ESNodes {
		t.Fatalf("before the kill the index has %d shards for %d primaries on %d nodes: want one replica of each (auto_expand_replicas)",
			health.ActiveShards, health.PrimaryShards, health.Nodes)
	}
	indexedAtKill := cons.Stats().Indexed
	stalls := watchStalls(t, func() int64 { return cons.Stats().Indexed })
	killed := time.Now()
	servicetest.Services(t, "kill-es", strconv.Itoa(victim))
	down := true
	t.Cleanup(func() {
		if down {
			servicetest.Services(t, "start-es", strconv.Itoa(victim))
		}
	})
	time.Sleep(time.Until(killed.Add(15 * time.Second)))
	stalled := stalls()
	servicetest.Services(t, "start-es", strconv.Itoa(victim))
	down = false
	green := servicetest.WaitFor(t, 3*time.Minute, "the index green again (replicas recovered)", func() bool {
		var h struct {
			Status string `json:"status"`
		}
		return s.ES(t, http.MethodGet, "/_cluster/health/"+s.Index, nil, &h) == http.StatusOK && h.Status == "green"
	})

	return e2e.Outcome{
		Written: func(t *testing.T) []generator.Event { return r.wait(t, 3*time.Minute) },
		Settled: func(t *testing.T, _ time.Duration) { assertAckedInTopic(t, s, r) },
		Passed: func(t *testing.T, caughtUp time.Duration) {
			report(t, "Elasticsearch node %d killed after %d documents indexed: indexing stood still for %v at most while it was down; index green %v after the node served again; "+
				"consumer caught up %v after the producer finished; %d documents retried", victim, indexedAtKill, stalled.Round(time.Millisecond), green.Round(time.Millisecond),
				caughtUp.Round(time.Millisecond), cons.Stats().Retries)
		},
	}
}
