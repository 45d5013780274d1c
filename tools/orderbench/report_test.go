package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestPercentileIsNearestRank(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	cases := []struct {
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{nil, 50, 0},
		{ms(7), 99, 7 * time.Millisecond},
		{ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{ms(1, 2, 3, 4), 100, 4 * time.Millisecond},
		{ms(hundred...), 99, 99 * time.Millisecond},
		{ms(hundred...), 50, 50 * time.Millisecond},
		{ms(1, 2, 3), 0, 1 * time.Millisecond},
	}
	for _, c := range cases {
		if got := percentile(c.sorted, c.p); got != c.want {
			t.Errorf("percentile(%v, %v) = %v, want %v", c.sorted, c.p, got, c.want)
		}
	}
}

func TestRenderTableKeepsEachRowOnOneLine(t *testing.T) {
	got := renderTable([]row{
		{measure: "a", result: "x | y\nz", goal: "≥ 0.9", verdict: verdictOK},
		row{measure: "b", goal: "≤ 64 MB"}.fail(io.ErrUnexpectedEOF),
	})
	want := "| measure | result | goal | verdict |\n" +
		"| --- | --- | --- | --- |\n" +
		"| a | x \\| y z | ≥ 0.9 | ok |\n" +
		"| b | FAILED: unexpected EOF | ≤ 64 MB | **FAILED** |\n"
	if got != want {
		t.Errorf("renderTable:\n%s\nwant:\n%s", got, want)
	}
}

func TestMemoryRowJudgesAgainstTheGoal(t *testing.T) {
	if r := memoryRow("producer", 40<<20, nil, 64); r.verdict != verdictOK || r.result != "**40 MB**" {
		t.Errorf("40 MB: %+v", r)
	}
	if r := memoryRow("producer", 65<<20, nil, 64); r.verdict != verdictBelow {
		t.Errorf("65 MB: %+v", r)
	}
	if r := memoryRow("producer", 0, nil, 64); r.verdict != verdictFailed {
		t.Errorf("no rusage: %+v", r)
	}
}

func TestFmtInt(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 999.4: "999", 1000: "1,000", 12345.6: "12,346", 1234567: "1,234,567", -4321: "-4,321"} {
		if got := fmtInt(in); got != want {
			t.Errorf("fmtInt(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestMedian(t *testing.T) {
	if got := median([]float64{3, 1, 2}); got != 2 {
		t.Errorf("median of 3 = %v", got)
	}
	if got := median([]float64{0.8, 1.0}); got != 0.9 {
		t.Errorf("median of 2 = %v", got)
	}
}

const pprofTop = `File: producer
Type: cpu
Time: 2026-01-02 10:00:00 UTC
Duration: 10s, Total samples = 9.50s (95.00%)
Showing nodes accounting for 6.50s, 68.42% of 9.50s total
Showing top 8 nodes out of 250
      flat  flat%   sum%        cum   cum%
     2.00s 21.05% 21.05%      2.00s 21.05%  internal/runtime/syscall.Syscall6
     1.00s 10.53% 31.58%      1.20s 12.63%  github.com/pierrec/lz4/v4/internal/lz4block.compressBlock
     0.90s  9.47% 41.05%      0.90s  9.47%  runtime.memmove
     0.80s  8.42% 49.47%      3.00s 31.58%  encoding/json.(*encodeState).marshal
     0.70s  7.37% 56.84%      0.70s  7.37%  runtime.futex
     0.50s  5.26% 62.11%      0.50s  5.26%  runtime.scanobject
     0.30s  3.16% 65.26%      0.30s  3.16%  runtime.mallocgc (inline)
     0.30s  3.16% 68.42%      0.30s  3.16%  main.run
`

func TestParseTopAndSummary(t *testing.T) {
	p, err := parseTop(pprofTop)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.entries) != 8 || p.entries[6].name != "runtime.mallocgc (inline)" || p.entries[0].flatPct != 21.05 || p.entries[3].cumPct != 31.58 {
		t.Fatalf("entries = %+v", p.entries)
	}
	s := p.summary("producer")
	for _, want := range []string{"producer: bound by syscalls (network I/O) (21% flat", "top 5 flat: internal/runtime/syscall.Syscall6 21.1%", "runtime.futex 7.4%;", "Duration: 10s"} {
		if !strings.Contains(s, want) {
			t.Errorf("summary %q lacks %q", s, want)
		}
	}
	if _, err := parseTop("File: x\n"); err == nil {
		t.Error("output without a table is not an error")
	}
}

func TestQuickReducesOnlyWhatWasNotSet(t *testing.T) {
	o, err := parseOptions([]string{"-quick", "-rates", "500,2000"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.orders != 50_000 || o.rates.String() != "500,2000" || o.pairs != 2 || len(o.gridWorkers) != 1 {
		t.Errorf("options = %+v", o)
	}
	if _, err := parseOptions([]string{"-rates", "1000,x"}, io.Discard); err == nil {
		t.Error("a bad rate list is accepted")
	}
	if _, err := parseOptions([]string{"-only", "consumer"}, io.Discard); err == nil {
		t.Error("-only consumer is accepted")
	}
	if o, err := parseOptions(nil, io.Discard); err != nil || o.pairs < 5 {
		t.Errorf("make bench runs %d pairs (err %v), want at least 5", o.pairs, err)
	}
}

func TestProducerRowShowsMedianRangeAndBothSides(t *testing.T) {
	pb := producerBench{
		ours:         []sideRun{{msgs: 110, mb: 11}, {msgs: 130, mb: 13}, {msgs: 90, mb: 9}},
		theirs:       []sideRun{{msgs: 100, mb: 10}, {msgs: 100, mb: 10}, {msgs: 100, mb: 10}},
		ratios:       []float64{1.1, 1.3, 0.9},
		unkeyed:      []sideRun{{msgs: 200, mb: 20}, {msgs: 200, mb: 20}, {msgs: 200, mb: 20}},
		unkeyedRatio: []float64{0.55, 0.65, 0.45},
		payload:      payloadStats{orders: 20_000, meanBytes: 880},
	}
	rows := pb.rows()
	r := rows[0]
	for _, want := range []string{"**1.10**", "median of 3 pairs", "range 0.90–1.30", "ours 110 msgs/s, 11.0 MB/s", "ProducerPerformance 100 msgs/s, 10.0 MB/s", "mean 880 B"} {
		if !strings.Contains(r.result, want) {
			t.Errorf("row %q lacks %q", r.result, want)
		}
	}
	if r.verdict != verdictOK {
		t.Errorf("median 1.10 judged %q", r.verdict)
	}
	if side := rows[1]; !strings.Contains(side.result, "**0.55**") || !strings.Contains(side.result, "ProducerPerformance 200 msgs/s, 20.0 MB/s") || side.verdict == verdictBelow {
		t.Errorf("null-key row %+v", side)
	}
	pb.ratios = []float64{1.0, 1.05, 1.2}
	if r := pb.rows()[0]; r.verdict != verdictBelow {
		t.Errorf("median 1.05 judged %q", r.verdict)
	}
}

func TestPerfResultReadsRateAndMegabytes(t *testing.T) {
	line := "200000 records sent, 104970.3 records/sec (88.09 MB/sec), 120.1 ms avg latency, 300.0 ms max latency, 100 ms 50th, 200 ms 95th, 250 ms 99th, 290 ms 99.9th.\n"
	m := perfResult.FindStringSubmatch(line)
	if m == nil || m[1] != "200000" || m[2] != "104970.3" || m[3] != "88.09" {
		t.Errorf("perfResult on %q = %q", line, m)
	}
	log := `{"time":"x","level":"INFO","msg":"producer stopped","produced":3,"bytes":2640}`
	if m := stoppedBytes.FindStringSubmatch(log); m == nil || m[1] != "2640" {
		t.Errorf("stoppedBytes on %q = %q", log, m)
	}
}
