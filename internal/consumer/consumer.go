// Package consumer assembles orderpipe's Go consumer from its settings: the
// Elasticsearch client, the Kafka admin, the group member, the dead-letter
// writer, the pipeline and the lag monitor, with their start-up (index
// template, the index checked against it, dead-letter topic) and shutdown
// order. cmd/consumer's main and
// the tests that run whole consumers build it here, so the tests prove the
// wiring that ships rather than a copy of it. The rules of consuming live
// in internal/pipeline; this package only puts the parts together.
package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/orderpipe/orderpipe/internal/elastic"
	"github.com/orderpipe/orderpipe/internal/kafka"
	"github.com/orderpipe/orderpipe/internal/pipeline"
	"github.com/orderpipe/orderpipe/internal/settings"
)

// Settings is everything a consumer is built from; the connections and
// topics already validated.
type Settings struct {
	Kafka   kafka.Config
	Writer  kafka.BatchConfig // the dead-letter writer's; its acks are always all
	Elastic elastic.Config

	Topic string
	DLQ   kafka.TopicSpec // created at start unless it exists

	TemplateName string
	Template     []byte // index template body, installed at start; ES_INDEX must be one it governs

	Config Config // group, batching, retries, shutdown budget
}

// Consumer is one assembled consumer; Run runs it once.
type Consumer struct {
	s        Settings
	opt      pipeline.Options
	es       *elastic.Client
	admin    *kafka.Admin
	template elastic.Template

	mu sync.Mutex
	p  *pipeline.Pipeline // set once Run has built it
}

// New builds the clients; it does not contact Kafka or Elasticsearch, so a
// consumer can start, report why it waits, and connect once they are up.
// opt.Log, opt.Metrics and opt.Health are required. It fails on a
// s.Config that does not validate, naming the variable, and on a template
// that would leave fields to Elasticsearch's guesses (a *settings.UsageError).
func New(s Settings, opt pipeline.Options) (*Consumer, error) {
	if err := s.Config.Validate(); err != nil {
		return nil, err
	}
	template, err := elastic.ParseTemplate(s.TemplateName, s.Template)
	if err != nil {
		return nil, settings.Usage(err)
	}
	es, err := elastic.New(s.Elastic)
	if err != nil {
		return nil, err
	}
	admin, err := kafka.NewAdmin(s.Kafka)
	if err != nil {
		return nil, err
	}
	return &Consumer{s: s, opt: opt, es: es, admin: admin, template: template}, nil
}

// Run installs the template and the dead-letter topic, waits for the orders
// topic to exist (waitForTopic), then consumes until
// ctx ends and shuts down in order: drain, commit, leave the group. A ctx
// that ends during start-up is a clean stop (nil): nothing was fetched.
func (c *Consumer) Run(ctx context.Context) error {
	log := c.opt.Log
	if stopped, err := c.prepare(ctx); stopped || err != nil {
		return err
	}
	if stopped := c.waitForTopic(ctx); stopped {
		return nil
	}
	member, err := kafka.NewGroupMember(c.s.Kafka, c.s.Config.memberConfig(c.s.Topic), log)
	if err != nil {
		return err
	}
	writer, err := kafka.NewDeadLetterWriter(c.s.Kafka, c.s.Writer, c.s.DLQ.Name)
	if err != nil {
		member.Close()
		return err
	}
	dlq := &pipeline.KafkaDeadLetters{Writer: writer, Topic: c.s.DLQ.Name}
	p, err := pipeline.New(c.s.Config.pipelineConfig(), member, c.es, dlq, c.opt)
	if err != nil {
		member.Close()
		writer.Close()
		return err
	}
	c.mu.Lock()
	c.p = p
	c.mu.Unlock()
	c.opt.Health.Set("startup", "")
	log.Info("consuming", "topic", c.s.Topic, "group", c.s.Config.Group, "index", c.es.Index())

	var g errgroup.Group
	lagCtx, stopLag := context.WithCancel(ctx)
	g.Go(func() error {
		pipeline.MonitorLag(lagCtx, c.admin, c.s.Config.Group, c.s.Topic, c.s.Config.LagInterval, c.opt.Metrics, c.opt.Health, log)
		return nil
	})
	// SHUTDOWN_TIMEOUT runs from ctx's end: the pipeline returns within
	// its drain and commit shares of it, and leaving the group gets what is
	// left, its own share at most.
	deadline := make(chan time.Time, 1)
	stopClock := context.AfterFunc(ctx, func() { deadline <- time.Now().Add(c.s.Config.ShutdownTimeout) })
	defer stopClock()
	runErr := p.Run(ctx)
	stopLag()
	_ = g.Wait()

	// Leaving the group hands the partitions over at once instead of after
	// the session timeout. Both closes share the close budget, so a dead
	// broker cannot hold the exit.
	closeBudget := c.s.Config.closeTimeout()
	select {
	case d := <-deadline:
		closeBudget = min(closeBudget, time.Until(d))
	default:
	}
	closeWithin(closeBudget, log,
		closer{"leave the consumer group", member.Close},
		closer{"close the dead-letter writer", writer.Close})
	s := p.Stats()
	log.Info("pipeline stopped", "consumed", s.Consumed, "indexed", s.Indexed, "conflicts", s.Conflicts,
		"superseded", s.Superseded, "dead_lettered", s.DeadLettered, "retries", s.Retries)
	return runErr
}

// prepare installs the index template, makes sure the index is one it
// governs, and creates the dead-letter topic; stopped reports that ctx
// ended on the way. An index the template does not govern is a setting to
// change (a *settings.UsageError, exit 2): consuming into it would let
// Elasticsearch guess the mapping and reject valid orders.
func (c *Consumer) prepare(ctx context.Context) (stopped bool, err error) {
	log, name := c.opt.Log, c.s.TemplateName
	switch err := c.es.EnsureTemplate(ctx, name, c.s.Template, log); {
	case ctx.Err() != nil:
		return true, nil // stopped during start-up: nothing fetched, nothing to commit
	case errors.Is(err, elastic.ErrUnauthenticated):
		// Exiting would only crash-loop under a supervisor; staying up, the
		// consumer retries, /readyz says why, and a fixed secret is taken
		// at the next restart.
		log.Error("elasticsearch refused the credentials; staying up, not ready, retrying", "template", name, "error", err.Error())
	case errors.Is(err, elastic.ErrForbidden):
		// A least-privilege writer (compose's orderpipe_consumer) may not
		// manage templates; orderctl setup installs the same file.
		log.Warn("not allowed to install the index template; relying on the one already installed (orderctl setup)", "template", name, "error", err.Error())
	case err != nil:
		return false, err
	default:
		log.Info("index template installed", "template", name)
	}
	switch created, err := c.es.EnsureOrderIndex(ctx, c.template, log); {
	case ctx.Err() != nil:
		return true, nil
	case errors.Is(err, settings.ErrInvalid):
		return false, settings.Usage(err)
	case err != nil:
		return false, fmt.Errorf("check index %s: %w", c.es.Index(), err)
	case created:
		log.Info("index created from the template", "index", c.es.Index(), "template", name)
	}
	if _, err := c.admin.EnsureTopic(ctx, c.s.DLQ, log); err != nil {
		if ctx.Err() != nil {
			return true, nil
		}
		return false, fmt.Errorf("ensure dead-letter topic: %w", err)
	}
	return false, nil
}

// Stats is the pipeline's counters; zero before Run has started consuming.
func (c *Consumer) Stats() pipeline.Stats {
	c.mu.Lock()
	p := c.p
	c.mu.Unlock()
	if p == nil {
		return pipeline.Stats{}
	}
	return p.Stats()
}

// closer is one thing to close at exit, named for the log.
type closer struct {
	what  string
	close func() error
}

// closeWithin runs the closers concurrently and waits at most d for all of
// them, logging each failure, and returns what had not finished by then
// (also logged). kafka-go's Close takes no context, so a Close stuck on an
// unreachable broker cannot be interrupted: the bound keeps it from holding
// the exit, which is what ends it. Each result has a buffered slot, so a
// late Close never blocks.
func closeWithin(d time.Duration, log *slog.Logger, closers ...closer) (pending []string) {
	type result struct {
		i   int
		err error
	}
	results := make(chan result, len(closers))
	for i, c := range closers {
		go func() { results <- result{i, c.close()} }()
	}
	done := make([]bool, len(closers))
	timeout := time.NewTimer(d)
	defer timeout.Stop()
	for range closers {
		select {
		case r := <-results:
			done[r.i] = true
			if r.err != nil {
				log.Warn(closers[r.i].what+" failed", "error", r.err.Error())
			}
		case <-timeout.C:
			for i, c := range closers {
				if !done[i] {
					pending = append(pending, c.what)
				}
			}
			log.Warn("shutdown: giving up waiting; the broker expires the group session on its own", "still_running", pending, "waited", d.String())
			return pending
		}
	}
	return nil
}
