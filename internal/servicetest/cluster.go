package servicetest

import (
	"github.com/orderpipe/orderpipe/internal/settings/settingstest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Cluster is the replicated Kafka and Elasticsearch that scripts/with-services
// starts when ORDERPIPE_KAFKA_NODES / ORDERPIPE_ES_NODES are above 1 (make
// test-cluster), for the tests that kill a node mid-stream.
type Cluster struct {
	KafkaBrokers []string // every broker, node N at index N-1
	KafkaNodes   int
	// Replication and MinInsync are what the cluster affords a topic, as
	// scripts/services decides them for its own topics and make local's.
	Replication, MinInsync int
	ESURLs                 []string // every node, node N at index N-1
	ESNodes                int
}

// Environment variables scripts/services adds for a cluster.
const (
	EnvKafkaNodes       = "ORDERPIPE_TEST_KAFKA_NODES"
	EnvKafkaReplication = "ORDERPIPE_TEST_KAFKA_REPLICATION_FACTOR"
	EnvKafkaMinInsync   = "ORDERPIPE_TEST_KAFKA_MIN_INSYNC_REPLICAS"
	EnvESURLs           = "ORDERPIPE_TEST_ES_URLS"
	EnvESNodes          = "ORDERPIPE_TEST_ES_NODES"
)

// RequireCluster returns the cluster, or skips when the services are not one
// with at least kafkaNodes brokers and esNodes Elasticsearch nodes (fails on
// CI: make test-cluster is what starts one).
func RequireCluster(tb testing.TB, kafkaNodes, esNodes int) Cluster {
	tb.Helper()
	c := Cluster{
		KafkaBrokers: KafkaBrokers(tb),
		KafkaNodes:   atoi(tb, EnvKafkaNodes),
		Replication:  atoi(tb, EnvKafkaReplication),
		MinInsync:    atoi(tb, EnvKafkaMinInsync),
		ESURLs:       strings.Split(require(tb, EnvESURLs), ","),
		ESNodes:      atoi(tb, EnvESNodes),
	}
	if c.KafkaNodes < kafkaNodes || c.ESNodes < esNodes {
		msg := "needs " + strconv.Itoa(kafkaNodes) + " Kafka and " + strconv.Itoa(esNodes) + " Elasticsearch nodes, the services have " +
			strconv.Itoa(c.KafkaNodes) + " and " + strconv.Itoa(c.ESNodes) + ": run `make test-cluster`"
		if os.Getenv("CI") == "true" {
			tb.Fatal(msg)
		}
		tb.Skip("SKIPPED: " + msg)
	}
	return c
}

func atoi(tb testing.TB, name string) int {
	tb.Helper()
	n, err := strconv.Atoi(require(tb, name))
	if err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	return n
}

// Services runs scripts/services with args on the services of this test run
// (with-services exported their settings), e.g. "kill-kafka", "2". It fails
// the test with the script's output if the script fails.
func Services(tb testing.TB, args ...string) {
	tb.Helper()
	cmd := exec.Command(filepath.Join(settingstest.ModuleRoot(tb), "scripts", "services"), args...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("scripts/services %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	tb.Logf("scripts/services %s took %v", strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
}
