package e2e

// The exact-result suite, modelled on watermill's pubsub/tests: one suite,
// run with the features of the services under it, so the single node and
// the replicated cluster are held to the same checks.

import (
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/internal/generator"
	"github.com/orderpipe/orderpipe/internal/servicetest"
)

// Features says what the services a suite run is given can do. A case
// that needs a feature the run lacks is skipped, saying which.
type Features struct {
	// Cluster is the replicated cluster of make test-cluster, whose nodes
	// a case may kill; nil on the single node.
	Cluster *servicetest.Cluster
	// ESURL is an Elasticsearch node of the run's own (one a case may
	// stop, servicetest.StartPrivateES); "" for the shared one. Only on
	// the single node.
	ESURL string
	// Heavy runs take 100,000 orders (ORDERPIPE_TEST_ORDERS for a quicker
	// local run) and skip under -race, which only slows them; the rest
	// take 24,000.
	Heavy bool
}

// Case is one way the pipeline meets a fault on the way to its result.
type Case struct {
	Name string
	// KafkaNodes and ESNodes are the nodes a case that kills one needs
	// (a cluster of at least that many, Features.Cluster); 0 for any.
	KafkaNodes, ESNodes int
	// NeedsOwnES: the case stops Elasticsearch, which only a node of the
	// run's own may be (Features.ESURL).
	NeedsOwnES bool
	// Run writes (or starts producing) a stream of about orders orders to
	// the stack's topic and drives consumers through the fault.
	Run func(t *testing.T, s *Stack, orders int) Outcome
}

// Outcome is what a case hands the suite's checks.
type Outcome struct {
	// Written waits until the stream is all written and returns every
	// event written to the topic, malformed ones too.
	Written func(t *testing.T) []generator.Event
	// Settled, if set, runs once the index holds the expected result and
	// the group has no lag, before the exact checks: the case stops its
	// consumers and checks what is its own (counters, exit codes, the
	// producer's acknowledgements); took is how long catching up took.
	Settled func(t *testing.T, took time.Duration)
	// Passed, if set, runs once every check has passed: for figures a
	// failed run must not report.
	Passed func(t *testing.T, took time.Duration)
}

// Catch-up budget once the stream is written: a heavy run on two cores
// under the other packages' load takes minutes.
const (
	heavyCatchUp = 10 * time.Minute
	catchUp      = 3 * time.Minute
)

// RunExactSuite runs each case the features allow as a subtest, on a
// stack of its own, and checks its exact result: every valid order in
// the index once at its latest version and status, nothing else; the
// dead-letter topic exactly the malformed messages; every event written
// in the topic.
func RunExactSuite(t *testing.T, f Features, cases ...Case) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			if lack := f.Lacks(c); lack != "" {
				t.Skip(lack)
			}
			orders, wait := 24_000, catchUp
			if f.Heavy {
				servicetest.Heavy(t)
				orders, wait = 100_000, heavyCatchUp
			}
			s := f.stack(t)
			out := c.Run(t, s, OrdersForTest(t, orders))
			evs := out.Written(t)
			x := Expect(evs)
			took := s.WaitDone(t, x, wait)
			if out.Settled != nil {
				out.Settled(t, took)
			}
			s.AssertIndex(t, x)
			s.AssertDLQ(t, x)
			s.AssertInTopic(t, evs)
			if out.Passed != nil {
				out.Passed(t, took)
			}
		})
	}
}

// Lacks says what of the case's needs the features lack, "" when none.
func (f Features) Lacks(c Case) string {
	switch {
	case (c.KafkaNodes > 0 || c.ESNodes > 0) && f.Cluster == nil:
		return "needs a cluster whose nodes it may kill (make test-cluster)"
	case f.Cluster != nil && (f.Cluster.KafkaNodes < c.KafkaNodes || f.Cluster.ESNodes < c.ESNodes):
		return fmt.Sprintf("needs %d Kafka and %d Elasticsearch nodes, the cluster has %d and %d",
			c.KafkaNodes, c.ESNodes, f.Cluster.KafkaNodes, f.Cluster.ESNodes)
	case c.NeedsOwnES && f.ESURL == "":
		return "needs an Elasticsearch node of its own to stop"
	}
	return ""
}

func (f Features) stack(t *testing.T) *Stack {
	t.Helper()
	switch {
	case f.Cluster != nil:
		return NewClusterStack(t, *f.Cluster)
	case f.ESURL != "":
		return NewStackOn(t, f.ESURL)
	default:
		return NewStack(t)
	}
}

// Digest identifies a message by its key and value.
func Digest(key, value []byte) [32]byte {
	h := sha256.New()
	h.Write(key)
	h.Write([]byte{0})
	h.Write(value)
	var d [32]byte
	h.Sum(d[:0])
	return d
}

// AssertInTopic checks every event written is in the stack's topic:
// whatever the fault, nothing written was lost before the consumer.
func (s *Stack) AssertInTopic(t *testing.T, evs []generator.Event) {
	t.Helper()
	inTopic := map[[32]byte]bool{}
	for _, m := range s.ReadTopic(t, s.Topic) {
		inTopic[Digest(m.Key, m.Value)] = true
	}
	missing := 0
	for _, ev := range evs {
		if !inTopic[Digest(ev.Key, ev.Value)] {
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("%d of the %d events written are not in the topic", missing, len(evs))
	}
}
