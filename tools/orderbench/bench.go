package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/orderpipe/orderpipe/deploy"
	"github.com/orderpipe/orderpipe/internal/kafka"
)

// bench is one run: the services, the built binaries, the names it uses,
// and what it must clean up.
type bench struct {
	opts     options
	stderr   io.Writer
	root     string // module root: every relative path is taken from here
	prefix   string // bench-<unix>-: topics, groups, indices and the template
	seed     int64  // PRODUCER_SEED of every producer run, and of the payload file
	binDir   string // built producer and consumer, removed at the end
	dir      string // logs and profiles of this run, kept (gitignored)
	brokers  string
	esURL    string
	services string // scripts/services' state folder (holds kafka.classpath)

	kafka  kafka.Config
	client *kafkago.Client // raw calls the harness makes on its own (delete topics, describe groups)
	admin  *kafka.Admin
	es     *esClient
	slog   *slog.Logger

	templateName string
	templateFile string
	topics       []string // created by this run, deleted by close
}

func newBench(ctx context.Context, opts options, stderr io.Writer) (*bench, error) {
	b := &bench{opts: opts, stderr: stderr}
	b.brokers = os.Getenv("ORDERPIPE_TEST_KAFKA_BROKERS")
	b.esURL = strings.TrimRight(os.Getenv("ORDERPIPE_TEST_ES_URL"), "/")
	b.services = os.Getenv("ORDERPIPE_TEST_SERVICES_DIR")
	if b.brokers == "" || b.esURL == "" || b.services == "" {
		return nil, errors.New("ORDERPIPE_TEST_KAFKA_BROKERS, ORDERPIPE_TEST_ES_URL and ORDERPIPE_TEST_SERVICES_DIR are not set: run through scripts/with-services (make bench)")
	}
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	b.root = root
	b.prefix = fmt.Sprintf("bench-%d-", time.Now().Unix())
	b.seed = time.Now().Unix()
	b.dir = filepath.Join(root, opts.workDir, strings.TrimSuffix(b.prefix, "-"))
	if err := os.MkdirAll(b.dir, 0o755); err != nil {
		return nil, fmt.Errorf("create work dir: %w", err)
	}
	b.slog = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	b.kafka = kafka.Config{Brokers: strings.Split(b.brokers, ","), ClientID: "orderbench"}
	if b.client, err = b.kafka.Client(); err != nil {
		return nil, err
	}
	if b.admin, err = kafka.NewAdmin(b.kafka); err != nil {
		return nil, err
	}
	b.es = newESClient(b.esURL)
	b.logf("run %s: Kafka %s, Elasticsearch %s, logs in %s", b.prefix, b.brokers, b.esURL, b.dir)

	if b.binDir, err = os.MkdirTemp("", "orderbench-bin-"); err != nil {
		return nil, fmt.Errorf("create bin dir: %w", err)
	}
	if err := b.build(ctx); err != nil {
		b.close()
		return nil, err
	}
	if err := b.installTemplate(ctx); err != nil {
		b.close()
		return nil, err
	}
	return b, nil
}

// moduleRoot walks up from the working directory to go.mod, so `go run
// ./tools/orderbench` works from any folder of the repository.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory: run from the orderpipe repository")
		}
		dir = parent
	}
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.stderr, "orderbench %s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// build compiles the programs as they ship (no -race), once per run: from
// the working tree, or with -rev from a commit's tree, so that a before and
// an after are measured by the same harness on the same servers.
func (b *bench) build(ctx context.Context) error {
	src := b.root
	if b.opts.rev != "" {
		src = filepath.Join(b.binDir, "src")
		if err := os.MkdirAll(src, 0o755); err != nil {
			return err
		}
		archive := exec.CommandContext(ctx, "sh", "-c", `git -C "$1" archive --format=tar "$2" | tar -x -C "$3"`, "sh", b.root, b.opts.rev, src)
		if out, err := archive.CombinedOutput(); err != nil {
			return fmt.Errorf("check out %s: %w\n%s", b.opts.rev, err, out)
		}
	}
	b.logf("building cmd/producer and cmd/consumer from %s", src)
	for _, name := range []string{"producer", "consumer"} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(b.binDir, name), "./cmd/"+name)
		cmd.Dir = src
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./cmd/%s: %w\n%s", name, err, out)
		}
	}
	return nil
}

func (b *bench) bin(name string) string { return filepath.Join(b.binDir, name) }

// installTemplate installs the orders template under this run's name, with
// index_patterns narrowed to this run's indices: the mapping under test is
// the shipped one, and no other index on the cluster is touched. The
// consumer gets the same file and installs it again, as it does in
// production; the ceiling loop's indices get it from here.
func (b *bench) installTemplate(ctx context.Context) error {
	var tpl map[string]any
	if err := json.Unmarshal(deploy.OrdersTemplate, &tpl); err != nil {
		return fmt.Errorf("parse the orders template: %w", err)
	}
	tpl["index_patterns"] = []string{b.prefix + "*"}
	body, err := json.MarshalIndent(tpl, "", "  ")
	if err != nil {
		return fmt.Errorf("encode the bench template: %w", err)
	}
	b.templateName = b.prefix + "orders"
	b.templateFile = filepath.Join(b.dir, "orders-template.json")
	if err := os.WriteFile(b.templateFile, body, 0o644); err != nil {
		return fmt.Errorf("write the bench template: %w", err)
	}
	return b.es.putTemplate(ctx, b.templateName, body)
}

// ensureTopic creates a 6-partition topic (the production layout) and
// remembers it for deletion.
func (b *bench) ensureTopic(ctx context.Context, topic string) error {
	b.topics = append(b.topics, topic)
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	_, err := b.admin.EnsureTopic(ctx, kafka.TopicSpec{Name: topic, Partitions: 6, ReplicationFactor: 1}, b.slog)
	return err
}

// close deletes what the run created on the services, so that a kept
// services instance does not fill up run after run, and the built binaries.
func (b *bench) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	slices.Sort(b.topics)
	b.topics = slices.Compact(b.topics) // the dead-letter topic is noted by every consumer run
	if len(b.topics) > 0 && b.client != nil {
		if _, err := b.client.DeleteTopics(ctx, &kafkago.DeleteTopicsRequest{Topics: b.topics}); err != nil {
			b.logf("cleanup: delete topics: %v", err)
		}
	}
	if b.templateName != "" {
		if err := b.es.deleteIndex(ctx, b.prefix+"*"); err != nil {
			b.logf("cleanup: delete indices: %v", err)
		}
		if err := b.es.deleteTemplate(ctx, b.templateName); err != nil {
			b.logf("cleanup: delete template: %v", err)
		}
	}
	if b.binDir != "" {
		os.RemoveAll(b.binDir)
	}
}

// report is everything one run measured.
type report struct {
	rows     []row
	profiles []string // one summary line per program
}

func (r report) failed() int {
	n := 0
	for _, row := range r.rows {
		if row.verdict == verdictFailed {
			n++
		}
	}
	return n
}

// measure runs every measurement in order; one that fails becomes a FAILED
// row and the others still run.
func (b *bench) measure(ctx context.Context) report {
	var rep report
	if b.opts.only == "producer" {
		pp := b.producerThroughput(ctx)
		rep.rows = append(append(rep.rows, pp.rows()...), memoryRow("producer", pp.maxRSS, pp.err, 64))
		if ctx.Err() == nil {
			rep.profiles = append(rep.profiles, b.profileProducer(ctx))
		}
		return rep
	}
	tp := b.consumerThroughput(ctx)
	rep.rows = append(rep.rows, tp.row())
	for _, rate := range b.opts.rates {
		if ctx.Err() != nil {
			return rep
		}
		rep.rows = append(rep.rows, b.searchLatency(ctx, rate).row())
	}
	pp := b.producerThroughput(ctx)
	rep.rows = append(append(rep.rows, pp.rows()...), memoryRow("producer", pp.maxRSS, pp.err, 64), memoryRow("consumer", tp.maxRSS, tp.consumerErr(), 128))

	if ctx.Err() == nil {
		rep.profiles = append(rep.profiles, b.profileProducer(ctx))
	}
	if ctx.Err() == nil {
		rep.profiles = append(rep.profiles, b.profileConsumer(ctx, tp))
	}
	return rep
}
