//go:build cluster

package failover_test

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/internal/e2e"
	"github.com/orderpipe/orderpipe/internal/generator"
	"github.com/orderpipe/orderpipe/internal/servicetest"
)

// TestFailover runs the exact-result suite on the replicated cluster with
// the cases that kill a node mid-stream, while the producer writes at a
// steady rate and the consumer indexes; beyond the suite's checks, nothing
// the producer counted as sent may be lost.
func TestFailover(t *testing.T) {
	c := servicetest.RequireCluster(t, 3, 2)
	e2e.RunExactSuite(t, e2e.Features{Cluster: &c},
		e2e.Case{
			Name:       "leader broker killed",
			KafkaNodes: 3, // 2 in sync remain
			Run: func(t *testing.T, s *e2e.Stack, orders int) e2e.Outcome {
				return leaderBrokerKilled(t, c, s, orders)
			},
		},
		e2e.Case{
			Name:    "Elasticsearch node killed",
			ESNodes: 2, // the replica serves
			Run: func(t *testing.T, s *e2e.Stack, orders int) e2e.Outcome {
				return elasticsearchNodeKilled(t, c, s, orders)
			},
		},
	)
}

// leaderBrokerKilled kills the broker that leads the most partitions of
// the orders topic with SIGKILL and restarts it 15 s later.
func leaderBrokerKilled(t *testing.T, c servicetest.Cluster, s *e2e.Stack, orders int) e2e.Outcome {
	cons, r := midStream(t, s, orders)
	victim, led := busiestLeader(t, s, s.Topic)
	if v := os.Getenv("ORDERPIPE_TEST_KILL_BROKER"); v != "" { // to try a given broker, e.g. the first bootstrap address
		var err error
		if victim, err = strconv.Atoi(v); err != nil || victim < 1 || victim > c.KafkaNodes {
			t.Fatalf("ORDERPIPE_TEST_KILL_BROKER=%q is not a broker id from 1 to %d", v, c.KafkaNodes)
		}
	}
	t.Logf("killing broker %d, leader of %d of %d partitions, after %d messages acknowledged", victim, led, e2e.Partitions, r.p.Stats.Produced.Load())
	consumedAtKill := cons.Stats().Consumed
	stalls := watchStalls(t, func() int64 { return cons.Stats().Consumed })
	killed := time.Now()
	servicetest.Services(t, "kill-kafka", strconv.Itoa(victim))
	down := true
	t.Cleanup(func() {
		if down { // never leave the cluster short of a node for the next test
			servicetest.Services(t, "start-kafka", strconv.Itoa(victim))
		}
	})

	newLeaders := servicetest.WaitFor(t, time.Minute, "new leaders for the killed broker's partitions", func() bool {
		leader, _, err := partitions(t, s, s.Topic)
		if err != nil {
			return false
		}
		for _, id := range leader {
			if id == victim || id < 0 {
				return false
			}
		}
		return true
	})
	servicetest.WaitFor(t, time.Minute, "the producer acknowledged again after the kill", func() bool { return r.lastAcked().After(killed.Add(newLeaders)) })
	producerBack := r.lastAcked().Sub(killed)
	// Some 3,000 messages past the kill: what was in flight then is far fewer.
	servicetest.WaitFor(t, time.Minute, "the consumer consuming again after the kill", func() bool { return cons.Stats().Consumed > consumedAtKill+3000 })
	consumerBack := time.Since(killed)

	time.Sleep(time.Until(killed.Add(15 * time.Second)))
	consumerStalled := stalls()
	servicetest.Services(t, "start-kafka", strconv.Itoa(victim))
	down = false
	inSync := servicetest.WaitFor(t, 2*time.Minute, "every partition back to 3 in-sync replicas", func() bool {
		_, isr, err := partitions(t, s, s.Topic)
		if err != nil {
			return false
		}
		for _, n := range isr {
			if n < 3 {
				return false
			}
		}
		return true
	})

	var duplicates int
	var possible int64
	return e2e.Outcome{
		Written: func(t *testing.T) []generator.Event { return r.wait(t, 3*time.Minute) },
		Settled: func(t *testing.T, _ time.Duration) { duplicates, possible = assertAckedInTopic(t, s, r) },
		Passed: func(t *testing.T, caughtUp time.Duration) {
			report(t, "broker %d killed: new leaders after %v; producer acknowledging again after %v (longest wait between acknowledged batches %v); "+
				"consumer consuming again after %v (stood still %v at most); restarted broker back in sync %v after it served again; %d messages acknowledged, all in the topic, %d duplicates in the topic (the producer reported %d possible); consumer caught up %v after the producer finished",
				victim, newLeaders.Round(time.Millisecond), producerBack.Round(time.Millisecond), r.longestGap().Round(time.Millisecond),
				consumerBack.Round(time.Millisecond), consumerStalled.Round(time.Millisecond), inSync.Round(time.Millisecond), len(r.acked), duplicates, possible, caughtUp.Round(time.Millisecond))
		},
	}
}
