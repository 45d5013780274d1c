//go:build outage

package consumer_test

// This test stops and restarts Elasticsearch mid-stream. It does so on a
// private Elasticsearch node that it starts with scripts/services from the
// shared unpacked distribution (own state folder and ports), not on the
// shared one: stopping the shared node would break every other package's
// tests running at the same time, and scripts/services cannot stop a node
// that was started from a shell with job control (setsid forks there, so the
// recorded pid is not the server's). Starting a node costs ~30 s and 400 MB,
// so the test only builds with the "outage" tag:
//
//	go test -tags outage -run TestElasticsearchOutage -count=1 -timeout 15m ./internal/consumer/

import (
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/internal/consumer/consumertest"
	"github.com/orderpipe/orderpipe/internal/kafka"
	"github.com/orderpipe/orderpipe/internal/servicetest"
)

// privateES starts an Elasticsearch node of its own for the test and
// returns its URL and state folder; it is stopped and removed at cleanup.
func privateES(t *testing.T) (esURL, state string) {
	t.Helper()
	shared := servicetest.ServicesDir(t)
	homes, _ := filepath.Glob(filepath.Join(shared, "elasticsearch-*"))
	if len(homes) == 0 {
		t.Fatalf("no unpacked Elasticsearch in %s", shared)
	}
	// Not t.TempDir: its 0700 parents would lock out the unprivileged
	// user Elasticsearch runs as.
	state, err := os.MkdirTemp("", "orderpipe-outage-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(state, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(homes[0], filepath.Join(state, filepath.Base(homes[0]))); err != nil {
		t.Fatal(err)
	}
	port := freePortPair(t)
	esURL = "http://127.0.0.1:" + strconv.Itoa(port)
	t.Cleanup(func() {
		services(t, state, esURL, "stop-es")
		_ = os.RemoveAll(state)
	})
	services(t, state, esURL, "start-es")
	return esURL, state
}

// freePortPair finds a port p such that p and p+100 (the transport port
// scripts/services derives) are free.
func freePortPair(t *testing.T) int {
	t.Helper()
	for range 50 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if p+100 > 65535 {
			continue
		}
		ln2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+100))
		if err != nil {
			continue
		}
		ln2.Close()
		return p
	}
	t.Fatal("no free port pair")
	return 0
}

// services runs scripts/services on the test's private node.
func services(t *testing.T, state, esURL, action string) {
	t.Helper()
	u, err := url.Parse(esURL)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(servicetest.ModuleRoot(t), "scripts", "services"), action)
	cmd.Env = append(os.Environ(),
		"ORDERPIPE_SERVICES_DIR="+state,
		"ORDERPIPE_ES_PORT="+u.Port(),
		"ORDERPIPE_ES_HEAP=384m",
	)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/services %s: %v\n%s", action, err, out)
	}
	t.Logf("scripts/services %s took %v", action, time.Since(start).Round(time.Millisecond))
}

func TestElasticsearchOutage(t *testing.T) {
	servicetest.Heavy(t)
	esURL, state := privateES(t)
	s := consumertest.NewStackOn(t, esURL)
	evs := consumertest.Generate(t, consumertest.OrdersForTest(t, 100_000), 0.01)
	x := consumertest.Expect(evs)
	s.Produce(t, evs)

	cfg := consumertest.Config(t)
	cfg.BulkSize, cfg.BulkWorkers = 200, 1 // slow enough to still be mid-stream when ES stops
	c := s.StartConsumerWith(t, "only", cfg)
	for s.Count(t) < len(x.Final)/4 {
		time.Sleep(20 * time.Millisecond)
	}

	stopped := false
	t.Cleanup(func() {
		if stopped {
			services(t, state, esURL, "start-es") // never leave the shared server down
		}
	})
	stopped = true
	services(t, state, esURL, "stop-es")

	// The consumer stays up and says why it waits.
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(c.Health.Reason(), "elasticsearch unavailable") {
		if time.Now().After(deadline) {
			t.Fatalf("readiness reason %q does not say Elasticsearch is unavailable", c.Health.Reason())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("readiness during the outage: %s", c.Health.Reason())

	// Nothing is committed while nothing can be indexed.
	admin, err := kafka.NewAdmin(s.Kafka)
	if err != nil {
		t.Fatal(err)
	}
	offsets := func() map[int]int64 {
		ctx, cancel := consumertest.ContextWithTimeout(10 * time.Second)
		defer cancel()
		o, err := admin.GroupOffsets(ctx, s.Group, s.Topic, consumertest.AllPartitions())
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	// The pipeline reports Elasticsearch unavailable only from inside a
	// batch it cannot finish, and it commits only between batches, so no
	// commit can land after this snapshot: observe a fixed window.
	during := offsets()
	const window = 15 * time.Second
	time.Sleep(window)
	if after := offsets(); !maps.Equal(during, after) {
		t.Fatalf("offsets were committed while Elasticsearch was down: %v -> %v", during, after)
	}
	select {
	case err := <-c.Done:
		t.Fatalf("the consumer stopped during the outage: %v", err)
	default:
	}
	retriesDuring := c.Stats().Retries

	services(t, state, esURL, "start-es")
	stopped = false
	took := s.WaitDone(t, x, 10*time.Minute)
	c.Close()
	t.Logf("caught up %v after Elasticsearch came back; %d documents retried during the outage", took, retriesDuring)
	if retriesDuring == 0 {
		t.Error("no retries were counted during the outage")
	}
	if r := c.Health.Reason(); r != "" {
		t.Errorf("still not ready after recovery: %q", r)
	}
	s.AssertIndex(t, x)
	s.AssertDLQ(t, x)
}
