// Command orderctl operates an orderpipe stack: `setup` creates the topics,
// users, index template and Kibana objects; `tail` follows the orders topic
// live; `verify` reconciles Kafka with Elasticsearch and exits non-zero on
// any difference; `dashboard` serves a live page of the orders and of the
// pipeline's health.
//
// Settings come from the same environment variables as the daemons
// (KAFKA_BROKERS, KAFKA_TOPIC, DLQ_TOPIC, ES_ADDRESSES, ES_INDEX...);
// `orderctl SUBCOMMAND -h` lists each one's flags and variables.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"

	"github.com/orderpipe/orderpipe/internal/elastic"
	"github.com/orderpipe/orderpipe/internal/settings"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// errDifferences is verify's "ran fine, found differences": exit code 1
// without an extra error line (the report already says it).
var errDifferences = errors.New("differences found")

func exitCode(err error, stderr io.Writer) int {
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errDifferences):
		return 1 // the report already said what differs
	}
	return settings.ExitCode("orderctl", "orderctl SUBCOMMAND -h", err, stderr)
}

type subcommand struct {
	name, summary string
	run           func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func subcommands() []subcommand {
	return []subcommand{
		{"setup", "create topics, users/roles, index template and Kibana objects (idempotent)", runSetup},
		{"tail", "follow the orders topic live, one line per event", runTail},
		{"verify", "reconcile Kafka with Elasticsearch; exit 1 on any difference", runVerify},
		{"dashboard", "serve a live page of the orders and the pipeline's health (127.0.0.1:5602)", runDashboard},
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		topUsage(stderr)
		return settings.Usage(errors.New("missing subcommand"))
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		topUsage(stdout)
		return nil
	}
	for _, c := range subcommands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	return settings.Usage(fmt.Errorf("unknown subcommand %q", args[0]))
}

func topUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: orderctl SUBCOMMAND [flags]   (orderctl SUBCOMMAND -h for its flags and variables)")
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range subcommands() {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	tw.Flush()
}

// newFlags returns a flag set whose -h prints the flags, then the
// environment variables of spec.
func newFlags(name, summary string, spec any, stdout io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("orderctl "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintf(stdout, "usage: orderctl %s [flags]\n\n%s\n\nFlags:\n", name, summary)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
		fmt.Fprintln(stdout, "\nEnvironment:")
		_ = settings.Print(stdout, spec)
	}
	return fs
}

// parseFlags parses args; -h prints usage and returns flag.ErrHelp, a bad
// flag is a usage error.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return flag.ErrHelp // Parse has printed the usage
		}
		return settings.Usage(err)
	}
	if fs.NArg() > 0 {
		return settings.Usage(fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	return nil
}

// stageProgress prints progress lines to w once a run has lasted a couple of
// seconds, so short runs stay quiet.
func stageProgress(w io.Writer, quietFor func() bool) func(stage string, done, total int64) {
	return func(stage string, done, total int64) {
		if quietFor() {
			return
		}
		if total > 0 {
			fmt.Fprintf(w, "verify: %-13s %d/%d (%d%%)\n", stage, done, total, done*100/total)
		} else {
			fmt.Fprintf(w, "verify: %-13s %d\n", stage, done)
		}
	}
}

// ESConfig wraps elastic.Config (exported, so envconfig sees it) so that a settings struct can embed it next
// to kafka.Config (both are named Config) and envconfig still reads the
// unprefixed variables.
type ESConfig struct{ elastic.Config }

// newES builds the client of cfg; a bad ES_* setting is a usage error
// (exit 2), anything else as it is.
func newES(cfg ESConfig) (*elastic.Client, error) {
	esc, err := elastic.New(cfg.Config)
	if err != nil && errors.Is(err, settings.ErrInvalid) {
		return nil, settings.Usage(err)
	}
	return esc, err
}
