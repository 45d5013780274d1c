// Command orderbench is `make bench`: it measures orderpipe's producer and
// consumer binaries end to end on the real local Kafka and Elasticsearch
// that scripts/with-services starts, against ceilings that need no orderpipe
// code (a plain Kafka → _bulk loop, Kafka's own ProducerPerformance), and
// prints one markdown table, which it also writes to tools/orderbench/RESULTS.md
// with the machine it ran on.
//
// It drives the programs the way an operator would, as child processes
// configured through their environment, so the numbers include everything a
// deployment pays for (start-up, group join, template install). Every
// measurement uses fresh topic, group and index names under one
// bench-<unix>- prefix, so runs never see each other's data.
//
// Flags reduce the sizes for a quick run (-quick, or -orders, -rates, ...);
// `orderbench -h` lists them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, "orderbench:", err)
		os.Exit(1)
	}
}

// options are the sizes of one run.
type options struct {
	orders         int
	gridWorkers    intList
	gridBatches    intList
	rates          intList
	latencySeconds int
	producerOrders int
	pairs          int
	profileSeconds int
	results        string
	workDir        string
	quick          bool
	rev            string
	only           string
}

// String is the command line that reproduces these sizes, for RESULTS.md.
func (o options) String() string {
	s := fmt.Sprintf("-orders %d -grid-workers %s -grid-batches %s -rates %s -latency-seconds %d -producer-orders %d -pairs %d -profile-seconds %d",
		o.orders, o.gridWorkers, o.gridBatches, o.rates, o.latencySeconds, o.producerOrders, o.pairs, o.profileSeconds)
	if o.only != "" {
		s += " -only " + o.only
	}
	return s
}

// intList is a comma-separated flag value such as "1000,5000".
type intList []int

func (l intList) String() string {
	s := make([]string, len(l))
	for i, v := range l {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, ",")
}

func (l *intList) Set(v string) error {
	var out intList
	for f := range strings.SplitSeq(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, n)
	}
	*l = out
	return nil
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	o := options{
		orders: 200_000, gridWorkers: intList{2, 3, 4}, gridBatches: intList{1000, 3000},
		rates: intList{1000, 5000}, latencySeconds: 30, producerOrders: 200_000, pairs: 5,
		profileSeconds: 10, results: "tools/orderbench/RESULTS.md", workDir: ".local/bench",
	}
	fs := flag.NewFlagSet("orderbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.orders, "orders", o.orders, "orders in the consumer-throughput topic (one message each)")
	fs.Var(&o.gridWorkers, "grid-workers", "ceiling loop: concurrent _bulk requests to try")
	fs.Var(&o.gridBatches, "grid-batches", "ceiling loop: documents per _bulk request to try")
	fs.Var(&o.rates, "rates", "produced → searchable latency: producer rates in orders/s")
	fs.IntVar(&o.latencySeconds, "latency-seconds", o.latencySeconds, "produced → searchable latency: seconds of production per rate")
	fs.IntVar(&o.producerOrders, "producer-orders", o.producerOrders, "producer throughput: records per run (ours and ProducerPerformance)")
	fs.IntVar(&o.pairs, "pairs", o.pairs, "producer throughput: ours/theirs pairs to run, after one uncounted warm-up run of each")
	fs.StringVar(&o.only, "only", "", `"producer": only the producer's rows (throughput, memory, profile)`)
	fs.IntVar(&o.profileSeconds, "profile-seconds", o.profileSeconds, "length of each CPU profile")
	fs.StringVar(&o.results, "results", o.results, "markdown file the results are written to (relative to the module root)")
	fs.StringVar(&o.workDir, "work-dir", o.workDir, "where logs and profiles go (relative to the module root)")
	fs.StringVar(&o.rev, "rev", "", "build the producer and consumer from this git revision instead of the working tree (for a before/after)")
	fs.BoolVar(&o.quick, "quick", false, "a reduced run of a few minutes (CI smoke); explicit flags still win")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		quick := map[string]func(){
			"orders":          func() { o.orders = 50_000 },
			"grid-workers":    func() { o.gridWorkers = intList{3} },
			"grid-batches":    func() { o.gridBatches = intList{1000} },
			"rates":           func() { o.rates = intList{1000} },
			"latency-seconds": func() { o.latencySeconds = 15 },
			"producer-orders": func() { o.producerOrders = 100_000 },
			"pairs":           func() { o.pairs = 2 },
			"profile-seconds": func() { o.profileSeconds = 5 },
		}
		for name, apply := range quick {
			if !set[name] {
				apply()
			}
		}
	}
	switch {
	case o.orders < 1, o.producerOrders < 1:
		return o, errors.New("-orders and -producer-orders must be at least 1")
	case o.latencySeconds < 1, o.pairs < 1, o.profileSeconds < 1:
		return o, errors.New("-latency-seconds, -pairs and -profile-seconds must be at least 1")
	case o.only != "" && o.only != "producer":
		return o, fmt.Errorf("-only %q: the only choice is producer", o.only)
	case len(o.gridWorkers) == 0, len(o.gridBatches) == 0, len(o.rates) == 0:
		return o, errors.New("-grid-workers, -grid-batches and -rates need at least one value")
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	opts, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	b, err := newBench(ctx, opts, stderr)
	if err != nil {
		return err
	}
	defer b.close()
	rep := b.measure(ctx)
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted: %w", ctx.Err())
	}
	table := renderTable(rep.rows)
	fmt.Fprint(stdout, table)
	if err := b.writeResults(rep, table); err != nil {
		return err
	}
	b.logf("results written to %s; logs and profiles in %s", opts.results, b.dir)
	if n := rep.failed(); n > 0 {
		return fmt.Errorf("%d measurement(s) FAILED; see the table and the logs in %s", n, b.dir)
	}
	return nil
}
