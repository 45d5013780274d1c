package main

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/internal/e2e"
	"github.com/orderpipe/orderpipe/internal/generator"
)

// buildConsumer builds this package's binary once into a temporary folder:
// the test kills the process, which an in-process consumer cannot show.
func buildConsumer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "consumer")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/consumer: %v\n%s", err, out)
	}
	return bin
}

// process is one run of the consumer binary; its log goes to a file that is
// printed when the test fails.
type process struct {
	cmd *exec.Cmd
	log string
	out *os.File
}

func startProcess(t *testing.T, s *e2e.Stack, bin string, run int) *process {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "consumer.log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		"KAFKA_BROKERS="+strings.Join(s.Kafka.Brokers, ","),
		"KAFKA_TOPIC="+s.Topic,
		"CONSUMER_GROUP="+s.Group,
		"DLQ_TOPIC="+s.DLQTopic,
		"ES_ADDRESSES="+s.ESURL,
		"ES_INDEX="+s.Index,
		"ES_TEMPLATE_NAME="+s.Index,
		"ES_TEMPLATE_FILE="+s.Template,
		"KAFKA_SESSION_TIMEOUT=6s",
		// Small batches keep the run long enough to be killed mid-stream.
		"BULK_SIZE=100",
		"BULK_WORKERS=1",
		"FLUSH_INTERVAL=200ms",
		"OPS_ADDR=127.0.0.1:0",
		"PROGRESS_INTERVAL=2s",
		"SHUTDOWN_TIMEOUT=10s",
	)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, log: logPath, out: f}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		f.Close()
		if t.Failed() {
			data, _ := os.ReadFile(logPath)
			t.Logf("consumer run %d log:\n%s", run, tail(data, 60))
		}
	})
	return p
}

func tail(data []byte, lines int) string {
	parts := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	return string(bytes.Join(parts[max(0, len(parts)-lines):], []byte("\n")))
}

// TestKill9ThreeTimes runs the exact-result suite's SIGKILL case: the
// consumer binary killed without warning three times mid-stream, then a
// fourth run finishing and stopping on SIGTERM.
func TestKill9ThreeTimes(t *testing.T) {
	e2e.RunExactSuite(t, e2e.Features{Heavy: true}, e2e.Case{Name: "consumer killed three times", Run: killThreeTimes})
}

func killThreeTimes(t *testing.T, s *e2e.Stack, orders int) e2e.Outcome {
	bin := buildConsumer(t)
	evs := e2e.Generate(t, orders, 0.01)
	x := e2e.Expect(evs)
	s.Produce(t, evs)

	for run := 1; run <= 3; run++ {
		p := startProcess(t, s, bin, run)
		// Kill it without warning (no drain, no commit, no LeaveGroup) at a
		// random point while it is indexing: once the index holds a random
		// share of the orders within this run's quarter.
		share := (float64(run-1) + 0.2 + 0.6*rand.Float64()) / 4
		target := int(share * float64(len(x.Final)))
		start := time.Now()
		for s.Count(t) < target {
			if time.Since(start) > 10*time.Minute {
				t.Fatalf("run %d: %d orders not indexed within 10 minutes", run, target)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = p.cmd.Wait()
		lag, _ := s.Lag(t)
		t.Logf("run %d: SIGKILL after %v with >= %d/%d orders indexed, uncommitted lag %d", run, time.Since(start).Round(time.Millisecond), target, len(x.Final), lag)
	}
	p := startProcess(t, s, bin, 4)
	return e2e.Outcome{
		Written: func(*testing.T) []generator.Event { return evs },
		Settled: func(t *testing.T, took time.Duration) {
			t.Logf("final run finished in %v", took)
			// A SIGTERM'd consumer drains, commits, leaves the group and exits 0.
			start := time.Now()
			if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			errc := make(chan error, 1)
			go func() { errc <- p.cmd.Wait() }()
			select {
			case err := <-errc:
				if err != nil {
					t.Errorf("consumer exited with %v after SIGTERM, want exit 0", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("consumer did not exit within 30s of SIGTERM")
			}
			t.Logf("SIGTERM to exit: %v", time.Since(start).Round(time.Millisecond))
		},
	}
}
