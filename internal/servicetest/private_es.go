package servicetest

import (
	"github.com/orderpipe/orderpipe/internal/settings/settingstest"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// PrivateES is an Elasticsearch node of one test's own, for tests that stop
// and restart it: stopping the shared node would break every other package's
// tests running at the same time, and scripts/services cannot stop a node
// that was started from a shell with job control (setsid forks there, so the
// recorded pid is not the server's). It runs from the shared unpacked
// distribution with its own state folder and ports; starting one costs
// ~30 s and 400 MB, so the tests that need one build with the "outage" tag
// and run alone (make test-outage).
type PrivateES struct {
	URL   string
	state string
}

// StartPrivateES starts the node; it is stopped and removed at cleanup.
func StartPrivateES(tb testing.TB) *PrivateES {
	tb.Helper()
	shared := ServicesDir(tb)
	homes, _ := filepath.Glob(filepath.Join(shared, "elasticsearch-*"))
	if len(homes) == 0 {
		tb.Fatalf("no unpacked Elasticsearch in %s", shared)
	}
	// Not t.TempDir: its 0700 parents would lock out the unprivileged
	// user Elasticsearch runs as.
	state, err := os.MkdirTemp("", "orderpipe-outage-")
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.Chmod(state, 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.Symlink(homes[0], filepath.Join(state, filepath.Base(homes[0]))); err != nil {
		tb.Fatal(err)
	}
	es := &PrivateES{URL: "http://127.0.0.1:" + strconv.Itoa(freePortPair(tb)), state: state}
	tb.Cleanup(func() {
		es.Stop(tb)
		_ = os.RemoveAll(state)
	})
	es.Start(tb)
	return es
}

// Stop stops the node; stopping a stopped node is fine.
func (es *PrivateES) Stop(tb testing.TB) { tb.Helper(); es.services(tb, "stop-es") }

// Start starts the node again (on the same data) and waits until it answers.
func (es *PrivateES) Start(tb testing.TB) { tb.Helper(); es.services(tb, "start-es") }

func (es *PrivateES) services(tb testing.TB, action string) {
	tb.Helper()
	_, port, _ := net.SplitHostPort(es.URL[len("http://"):])
	cmd := exec.Command(filepath.Join(settingstest.ModuleRoot(tb), "scripts", "services"), action)
	cmd.Env = append(os.Environ(),
		"ORDERPIPE_SERVICES_DIR="+es.state,
		"ORDERPIPE_ES_PORT="+port,
		"ORDERPIPE_ES_HEAP=384m",
	)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("scripts/services %s: %v\n%s", action, err, out)
	}
	tb.Logf("scripts/services %s took %v", action, time.Since(start).Round(time.Millisecond))
}

// freePortPair finds a port p such that p and p+100 (the transport port
// scripts/services derives) are free.
func freePortPair(tb testing.TB) int {
	tb.Helper()
	for range 50 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
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
	tb.Fatal("no free port pair")
	return 0
}
