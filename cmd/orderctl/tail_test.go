package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/orderpipe/orderpipe/internal/generator"
	"github.com/orderpipe/orderpipe/internal/kafka"
	"github.com/orderpipe/orderpipe/internal/order"
	"github.com/orderpipe/orderpipe/internal/servicetest"
)

// lineID reads "order-id vN" out of a summary line.
var lineID = regexp.MustCompile(`p\d+@\d+\s+(\S+)\s+v(\d+) `)

func printedIDs(t *testing.T, out string) []string {
	t.Helper()
	var ids []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		m := lineID.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("unreadable tail line %q", line)
			continue
		}
		ids = append(ids, m[1]+" v"+m[2])
	}
	slices.Sort(ids)
	return ids
}

func wantIDs(evs []generator.Event, keep func(generator.Event) bool) []string {
	var ids []string
	for _, ev := range evs {
		if keep == nil || keep(ev) {
			ids = append(ids, fmt.Sprintf("%s v%d", ev.OrderID, ev.Version))
		}
	}
	slices.Sort(ids)
	return ids
}

func TestTailPrintsExactlyTheEventsProduced(t *testing.T) {
	s := newStack(t, 3)
	evs := events(t, 15, 7, 0)
	s.produce(t, s.topic, messages(evs))
	n := len(evs)

	totals := map[string]float64{}
	for _, ev := range evs {
		o, err := order.Decode(ev.Value)
		if err != nil {
			t.Fatal(err)
		}
		totals[ev.OrderID+fmt.Sprint(ev.Version)] = o.Total
	}
	paidOrShippedOver100 := func(ev generator.Event) bool {
		return (ev.Status == order.StatusPaid || ev.Status == order.StatusShipped) && totals[ev.OrderID+fmt.Sprint(ev.Version)] >= 100
	}
	filtered := len(wantIDs(evs, paidOrShippedOver100))
	if filtered == 0 {
		t.Fatal("no event passes the filter; pick another seed")
	}

	for _, tc := range []struct {
		name string
		args []string
		keep func(generator.Event) bool
	}{
		{"no group", []string{"tail", "-from", "earliest", "-max", itoa(n)}, nil},
		{"group", []string{"tail", "-from", "earliest", "-group", servicetest.Name(t, "tail"), "-max", itoa(n)}, nil},
		{"filters", []string{"tail", "-from", "earliest", "-status", "paid,shipped", "-min-total", "100", "-max", itoa(filtered)}, paidOrShippedOver100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			out, errOut, err := runCmd(t, ctx, tc.args...)
			if err != nil || ctx.Err() != nil {
				t.Fatalf("tail: %v (ctx %v)\n%s\n%s", err, ctx.Err(), out, errOut)
			}
			if got, want := printedIDs(t, out), wantIDs(evs, tc.keep); !slices.Equal(got, want) {
				t.Errorf("printed %d events %v\nwant %d %v", len(got), got, len(want), want)
			}
		})
	}

	t.Run("json", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, _, err := runCmd(t, ctx, "tail", "-from", "earliest", "-json", "-max", itoa(n))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var o order.Order
			if err := json.Unmarshal([]byte(line), &o); err != nil {
				t.Fatalf("line is not an order document: %q", line)
			}
			got = append(got, fmt.Sprintf("%s v%d", o.OrderID, o.Version))
		}
		slices.Sort(got)
		if want := wantIDs(evs, nil); !slices.Equal(got, want) {
			t.Errorf("json printed %v, want %v", got, want)
		}
	})

	t.Run("group resumes where it committed", func(t *testing.T) {
		group := servicetest.Name(t, "resume")
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		first, _, err := runCmd(t, ctx, "tail", "-from", "earliest", "-group", group, "-max", "5")
		if err != nil {
			t.Fatal(err)
		}
		rest, _, err := runCmd(t, ctx, "tail", "-from", "earliest", "-group", group, "-max", itoa(n-5))
		if err != nil {
			t.Fatal(err)
		}
		got := append(printedIDs(t, first), printedIDs(t, rest)...)
		slices.Sort(got)
		if want := wantIDs(evs, nil); !slices.Equal(got, want) {
			t.Errorf("two runs in one group printed %v, want each event once: %v", got, want)
		}
	})
}

func TestTailFromLatestFollowsLiveAndMarksMalformed(t *testing.T) {
	s := newStack(t, 2)
	s.produce(t, s.topic, messages(events(t, 5, 1, 0))) // history tail must skip
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr servicetest.SyncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"tail", "-max", "100"}, &stdout, &stderr) }()
	for !strings.Contains(stderr.String(), "tail: following") {
		select {
		case err := <-done:
			t.Fatalf("tail ended early: %v\n%s", err, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	live := events(t, 3, 2, 0)
	s.produce(t, s.topic, append(messages(live), kafkago.Message{Key: []byte("junk"), Value: []byte("<html>502</html>")}))
	want := len(live) + 1
	for strings.Count(stdout.String(), "\n") < want && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	// Anything extra tail would print sits in some partition before that
	// partition's sentinel: once every sentinel is out, so is all of it.
	s.produceSentinels(t, 2)
	for !sentinelsPrinted(stdout.String(), 2) && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	cancel() // Ctrl-C
	if err := <-done; err != nil {
		t.Fatalf("tail after cancel: %v", err)
	}
	out := stdout.String()
	var valid []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.HasPrefix(line, "!! malformed ") && (strings.Contains(line, `key="junk"`) || strings.Contains(line, `key="sentinel-`)) {
			continue
		}
		valid = append(valid, line)
	}
	if !sentinelsPrinted(out, 2) {
		t.Fatalf("sentinels not printed within the test's time:\n%s", out)
	}
	if got := printedIDs(t, strings.Join(valid, "\n")); !slices.Equal(got, wantIDs(live, nil)) || len(valid) != want-1 {
		t.Errorf("tail -from latest printed\n%s\nwant exactly %v and one malformed line", out, wantIDs(live, nil))
	}
}

func TestTailUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"tail", "-from", "middle"},
		{"tail", "-status", "refunded"},
		{"tail", "-max", "-1"},
		{"tail", "-min-total", "lots"},
	} {
		_, _, err := runCmd(t, context.Background(), args...)
		if code := exitCode(err, &strings.Builder{}); code != 2 {
			t.Errorf("%v: exit %d (%v), want 2", args, code, err)
		}
	}
}

// tailReaders counts goroutines that readPartitions started and that are
// still alive (running or not yet scheduled).
func tailReaders() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			count := 0
			for _, g := range strings.Split(string(buf[:n]), "\n\n") {
				if strings.Contains(g, "orderctl.readPartitions") {
					count++
				}
			}
			return count
		}
		buf = make([]byte, 2*len(buf))
	}
}

// TestTailFailingPartWayLeavesNoReader: when positioning one partition's
// reader fails after others were set up, tail returns the error and no
// reader goroutine is left running.
func TestTailFailingPartWayLeavesNoReader(t *testing.T) {
	s := newStack(t, 3)
	s.produce(t, s.topic, messages(events(t, 3, 1, 0))) // every partition has a leader
	before := tailReaders()
	seek := seekReader
	t.Cleanup(func() { seekReader = seek })
	seekReader = func(r *kafkago.Reader, offset int64) error {
		if r.Config().Partition == 2 {
			return errors.New("planted seek failure")
		}
		return seek(r, offset)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, _, err := runCmd(t, ctx, "tail", "-from", "earliest")
	if err == nil || !strings.Contains(err.Error(), "planted seek failure") {
		t.Fatalf("tail = %v, want the seek failure", err)
	}
	if n := tailReaders() - before; n != 0 {
		t.Errorf("%d tail reader goroutines still running after tail returned", n)
	}
}

// produceSentinels writes one malformed message keyed "sentinel-P" to each
// of the partitions.
func (s *stack) produceSentinels(t *testing.T, partitions int) {
	t.Helper()
	w, err := kafka.NewWriter(kafka.Config{Brokers: s.brokers, ClientID: "orderctl-test"}, kafka.WriterConfig{
		Acks: "all", BatchConfig: kafka.BatchConfig{Compression: "none", BatchSize: 100, BatchBytes: 1 << 20, BatchTimeout: 5 * time.Millisecond},
	}, s.topic)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.Balancer = kafkago.BalancerFunc(func(m kafkago.Message, _ ...int) int {
		p, _ := strconv.Atoi(strings.TrimPrefix(string(m.Key), "sentinel-"))
		return p
	})
	var msgs []kafkago.Message
	for p := range partitions {
		msgs = append(msgs, kafkago.Message{Key: []byte(fmt.Sprintf("sentinel-%d", p)), Value: []byte("sentinel")})
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := kafka.WriteAll(ctx, w, msgs, nil); err != nil {
		t.Fatalf("produce sentinels: %v", err)
	}
}

// sentinelsPrinted reports whether out has each partition's sentinel line.
func sentinelsPrinted(out string, partitions int) bool {
	lines := strings.Split(out, "\n")
	for p := range partitions {
		if !slices.ContainsFunc(lines, func(l string) bool {
			return strings.HasPrefix(l, fmt.Sprintf("!! malformed p%d@", p)) && strings.Contains(l, fmt.Sprintf("key=\"sentinel-%d\"", p))
		}) {
			return false
		}
	}
	return true
}

// TestPrintEventJSONIsOneLine: -json prints a document spread over lines
// (LF or CRLF) compacted onto one.
func TestPrintEventJSONIsOneLine(t *testing.T) {
	compact := events(t, 1, 3, 0)[0].Value
	var indented bytes.Buffer
	if err := json.Indent(&indented, compact, "  ", "\t"); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string][]byte{
		"compact":  compact,
		"indented": append([]byte("\n  "), indented.Bytes()...),
		"crlf":     bytes.ReplaceAll(indented.Bytes(), []byte("\n"), []byte("\r\n")),
	} {
		var out strings.Builder
		if !printEvent(&out, kafkago.Message{Value: v}, tailFilter{}, true) {
			t.Errorf("%s: not printed", name)
		}
		if out.String() != string(compact)+"\n" {
			t.Errorf("%s: printed %q, want %q", name, out.String(), string(compact)+"\n")
		}
	}
}
