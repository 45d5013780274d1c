package main

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

const (
	verdictOK     = "ok"
	verdictBelow  = "**below goal**"
	verdictFailed = "**FAILED**"
)

// row is one line of the results table.
type row struct {
	measure, result, goal, verdict string
}

func (r row) fail(err error) row {
	r.result = "FAILED: " + err.Error()
	r.verdict = verdictFailed
	return r
}

func (r row) judge(met bool) row {
	r.verdict = verdictBelow
	if met {
		r.verdict = verdictOK
	}
	return r
}

func memoryRow(program string, rss int64, err error, goalMB int64) row {
	r := row{measure: "Peak RSS of the " + program + " (full-speed run)", goal: fmt.Sprintf("≤ %d MB", goalMB)}
	if err != nil {
		return r.fail(err)
	}
	if rss == 0 {
		return r.fail(fmt.Errorf("no rusage recorded"))
	}
	mb := float64(rss) / (1 << 20)
	r.result = fmt.Sprintf("**%.0f MB**", mb)
	return r.judge(mb <= float64(goalMB))
}

// renderTable renders rows as one markdown table.
func renderTable(rows []row) string {
	var b strings.Builder
	b.WriteString("| measure | result | goal | verdict |\n| --- | --- | --- | --- |\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", cell(r.measure), cell(r.result), cell(r.goal), cell(r.verdict))
	}
	return b.String()
}

// cell keeps a value inside its table cell: a pipe would end it, a newline
// would end the table.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.Join(strings.Fields(s), " ")
}

// percentile is the nearest-rank p-th percentile of sorted (ascending),
// which is always one of the observed values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// fmtInt renders a rate with thousands separators: 12345.6 → "12,346".
func fmtInt(v float64) string {
	s := strconv.FormatInt(int64(math.Round(v)), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func fmtSec(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

// writeResults overwrites the results file with the table, what it ran on
// and how each number is taken, so that a number in review can be traced.
func (b *bench) writeResults(rep report, table string) error {
	var w strings.Builder
	fmt.Fprintf(&w, "# orderbench results\n\n")
	fmt.Fprintf(&w, "Written by `make bench` (`go run ./tools/orderbench`), which overwrites this file on each run.\n\n")
	fmt.Fprintf(&w, "- date: %s\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&w, "- machine: %d cores, %s memory (Kafka, Elasticsearch, the programs and the bench share them)\n", runtime.NumCPU(), totalMemory())
	fmt.Fprintf(&w, "- Go: %s\n", b.output("go", "env", "GOVERSION"))
	fmt.Fprintf(&w, "- commit: %s\n", b.commit())
	fmt.Fprintf(&w, "- sizes: `%s`\n\n", b.opts)
	w.WriteString(table)
	w.WriteString("\n## CPU profiles\n\n")
	for _, p := range rep.profiles {
		fmt.Fprintf(&w, "- %s\n", p)
	}
	w.WriteString(method)
	path := filepath.Join(b.root, b.opts.results)
	if err := os.WriteFile(path, []byte(w.String()), 0o644); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	return nil
}

const method = `
## How each number is taken

- **Consumer throughput**: the producer binary fills a 6-partition topic at
  full speed (one message per order). The consumer binary (default
  settings, fresh group and index) is timed from its first consumed message
  (its /metrics polled every 50 ms) until the group's committed offsets reach
  the end of every partition (polled every 50 ms), three times, spread
  through the ceiling grid after an uncounted warm-up pass over the topic;
  the best run counts, as the best grid point does. The ceiling is a plain loop with
  no orderpipe logic: one kafka-go reader per partition feeding N goroutines
  that each keep one raw _bulk request in flight (same _id, external version
  and source bytes, same template), timed from the first message read to the
  last answer; the best point of the grid counts. A run counts only if its
  index then holds exactly one document per order.
- **Search latency**: the consumer (defaults, 1 s refresh) runs on a fresh
  topic; once it owns the partitions, the producer writes at the given rate.
  A probe tails the topic and notes every k-th order's Kafka timestamp (the
  producer's client stamps it when it writes the batch), about 200 a
  second; a poller searches Elasticsearch every 50 ms for the noted ids not
  seen yet. Latency = when the first answer holding the id was received −
  the Kafka timestamp (late by up to one poll, never early). Ids not seen
  10 s after the producer finished are missing.
- **Producer throughput**: our producer binary (PRODUCER_RATE=0, no
  lifecycle events, this run's PRODUCER_SEED) vs Kafka's ProducerPerformance
  with --payload-file holding the first 20,000 orders of that seed, one JSON
  document a line (the same orders, sizes and compressibility; it picks one
  at random per record), acks=all, lz4, linger.ms=5 and batch.size=1 MiB
  (our KAFKA_BATCH_TIMEOUT and KAFKA_BATCH_BYTES), each into a fresh
  6-partition topic. The judged row gives its records random keys
  (--key-distribution random), spread over the partitions by murmur2 as
  ours are by order id; the other row runs it with null keys, its default,
  where the sticky partitioner fills one partition's batch at a time, which
  a producer that keys by order cannot do. One uncounted warm-up run of
  each, then rounds of ours, keyed, null keys; each ratio is the median of
  the rounds' ratios, with their range. Ours is timed from the first message's Kafka
  timestamp to the process's exit, its bytes from its final log line;
  theirs is the rate it reports (first send to last acknowledgement). MB/s
  counts value bytes, 1 MB = 2^20 bytes as ProducerPerformance does.
- **Peak RSS**: the child's VmHWM (/proc/<pid>/status, sampled every 50 ms
  until it exits): the producer's highest over its throughput runs, the
  consumer's over its timed runs. Not rusage's ru_maxrss: Linux carries
  the spawning parent's peak (orderbench's) into a child's ru_maxrss at
  exec.
- **CPU profiles**: /debug/pprof/profile (OPS_PPROF=true) during separate
  full-speed runs, so profiling slows no timed run; the files are kept under
  .local/bench/. "Bound by" is the kind of work with the largest flat share
  among the top 8 functions.
`

// output is a command's trimmed output, or "unknown".
func (b *bench) output(name string, args ...string) string {
	cmd := exec.Command(name, args...)
	cmd.Dir = b.root
	out, err := cmd.Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// commit is HEAD, marked when tracked files differ from it (the results
// file aside): numbers from uncommitted code are not reproducible from the
// hash alone.
func (b *bench) commit() string {
	if b.opts.rev != "" {
		return b.output("git", "rev-parse", "--short", b.opts.rev) + " (programs built from -rev " + b.opts.rev + "; harness at " + b.output("git", "rev-parse", "--short", "HEAD") + ")"
	}
	c := b.output("git", "rev-parse", "--short", "HEAD")
	if b.output("git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!"+b.opts.results) != "" {
		c += " (with uncommitted changes)"
	}
	return c
}

// totalMemory reads MemTotal from /proc/meminfo.
func totalMemory() string {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var kb int64
		if _, err := fmt.Sscanf(sc.Text(), "MemTotal: %d kB", &kb); err == nil {
			return fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
		}
	}
	return "unknown"
}
