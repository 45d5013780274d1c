package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/orderpipe/orderpipe/deploy"
	"github.com/orderpipe/orderpipe/internal/elastic"
	"github.com/orderpipe/orderpipe/internal/kafka"
	"github.com/orderpipe/orderpipe/internal/ops"
	"github.com/orderpipe/orderpipe/internal/retry"
	"github.com/orderpipe/orderpipe/internal/settings"
	"github.com/orderpipe/orderpipe/internal/trust"
)

type setupConfig struct {
	kafka.Config
	ESConfig
	kafka.TopicConfig
	kafka.DLQConfig
	kafka.TopicLayout
	kafka.DLQLayout
	elastic.TemplateConfig
	ops.ToolLogConfig
	KibanaURL         string        `envconfig:"KIBANA_URL" desc:"Kibana to import deploy/kibana/*.ndjson into (empty: skip)"`
	KibanaTimeout     time.Duration `envconfig:"KIBANA_TIMEOUT" default:"5m" desc:"longest wait for Kibana to report itself available"`
	KibanaPassword    string        `envconfig:"KIBANA_PASSWORD" desc:"password to set for the built-in kibana_system user (empty: skip)"`
	LogstashPassword  string        `envconfig:"LOGSTASH_WRITER_PASSWORD" desc:"password of user logstash_writer, created with role orderpipe_writer (empty: skip)"`
	ConsumerPassword  string        `envconfig:"CONSUMER_ES_PASSWORD" desc:"password of user orderpipe_consumer, created with role orderpipe_writer (empty: skip)"`
	DashboardPassword string        `envconfig:"DASHBOARD_ES_PASSWORD" desc:"password of user orderpipe_dashboard, created with the read-only role orderpipe_reader for orderctl dashboard (empty: skip)"`
	WaitTimeout       time.Duration `envconfig:"SETUP_TIMEOUT" default:"5m" desc:"longest wait for Kafka and Elasticsearch to answer, and longest Kibana import once Kibana is available"`
	Parts             string        `envconfig:"SETUP_PARTS" desc:"comma-separated parts to run: topics, security, template, kibana (empty: all)"`

	parts setupParts // Parts, parsed by validate
}

func (c *setupConfig) validate() error {
	bad := func(name, reason string) error { return &settings.Error{Variable: name, Reason: reason} }
	if err := c.Config.Validate(); err != nil {
		return err
	}
	if err := c.ESConfig.Validate(); err != nil {
		return err
	}
	if err := c.ToolLogConfig.LogConfig().Validate(); err != nil {
		return err
	}
	if err := c.TopicConfig.Validate(); err != nil {
		return err
	}
	if err := c.DLQConfig.Validate(c.TopicConfig); err != nil {
		return err
	}
	if err := c.TopicLayout.Validate(); err != nil {
		return err
	}
	if err := c.DLQLayout.Validate(); err != nil {
		return err
	}
	if err := c.TemplateConfig.Validate(); err != nil {
		return err
	}
	parts, err := parseSetupParts(c.Parts)
	if err != nil {
		return err
	}
	c.parts = parts
	switch {
	case parts[partKibana] && !parts.all() && c.KibanaURL == "":
		return bad("KIBANA_URL", "SETUP_PARTS selects kibana, so KIBANA_URL must name the Kibana to import into")
	case c.KibanaTimeout <= 0:
		return bad("KIBANA_TIMEOUT", "must be positive")
	case c.WaitTimeout <= 0:
		return bad("SETUP_TIMEOUT", "must be positive")
	case parts[partSecurity] && (c.KibanaPassword != "" || c.LogstashPassword != "" || c.ConsumerPassword != "" || c.DashboardPassword != "") && c.Username == "" && c.APIKey == "":
		return bad("ES_USERNAME", "creating users needs a privileged user (ES_USERNAME/ES_PASSWORD or ES_API_KEY)")
	}
	if c.KibanaURL != "" {
		if !strings.HasPrefix(c.KibanaURL, "http://") && !strings.HasPrefix(c.KibanaURL, "https://") {
			return bad("KIBANA_URL", fmt.Sprintf("%q is not an http(s) URL", c.KibanaURL))
		}
	}
	return nil
}

const setupSummary = `setup creates the orders and dead-letter topics, sets the kibana_system password and
creates the orderpipe_writer role and its users (only for the passwords that are set),
installs the index template, and imports the Kibana saved objects when KIBANA_URL is
set. It is idempotent: on a second run the topics and the template are left untouched
("exists"/"unchanged"); the kibana_system password, the role, the users and the Kibana
saved objects are written again every run ("applied", import with overwrite), which
leaves them as they were. SETUP_PARTS runs only some parts (topics, security, template,
kibana): docker compose runs the first three in "setup", which ingest waits for, and
kibana in "kibana-setup", which waits for Kibana.`

func runSetup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg setupConfig
	fs := newFlags("setup", setupSummary, &cfg, stdout)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := settings.Load(&cfg); err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return settings.Usage(err)
	}
	template, tmpl, err := cfg.TemplateConfig.Load()
	if err != nil {
		return settings.Usage(err)
	}
	log, err := ops.NewLogger(stderr, cfg.ToolLogConfig.LogConfig(), "orderctl")
	if err != nil {
		return settings.Usage(err)
	}
	cfg.parts.printSkipped(stdout)

	waitCtx, cancel := context.WithTimeout(ctx, cfg.WaitTimeout)
	defer cancel()
	if cfg.parts[partTopics] {
		admin, err := kafka.NewAdmin(cfg.Config)
		if err != nil {
			return settings.Usage(err)
		}
		for _, t := range []kafka.TopicSpec{
			cfg.TopicLayout.Spec(cfg.Topic),
			cfg.DLQLayout.Spec(cfg.DLQTopic),
		} {
			if err := setupTopic(waitCtx, admin, t, stdout, log); err != nil {
				return err
			}
		}
	}
	if cfg.parts[partSecurity] || cfg.parts[partTemplate] {
		esc, err := elastic.New(cfg.ESConfig.Config)
		if err != nil {
			return settings.Usage(err)
		}
		if err := waitElasticsearch(waitCtx, esc, log); err != nil {
			return err
		}
		if cfg.parts[partSecurity] {
			if err := setupSecurity(waitCtx, esc, cfg, stdout); err != nil {
				return err
			}
		}
		if cfg.parts[partTemplate] {
			if err := setupTemplate(waitCtx, esc, tmpl, template, stdout, log); err != nil {
				return err
			}
		}
	}
	if !cfg.parts[partKibana] {
		return nil
	}
	if cfg.KibanaURL == "" {
		fmt.Fprintln(stdout, "kibana: skipped (KIBANA_URL not set)")
		return nil
	}
	// Kibana may take KIBANA_TIMEOUT to come up, then the imports get
	// SETUP_TIMEOUT; each request is also bounded on its own, so a Kibana
	// that accepts a connection and never answers cannot hang setup.
	kctx, kcancel := context.WithTimeout(ctx, cfg.KibanaTimeout+cfg.WaitTimeout)
	defer kcancel()
	k := kibana{url: strings.TrimRight(cfg.KibanaURL, "/"), username: cfg.Username, password: cfg.Password, apiKey: cfg.APIKey,
		client: &http.Client{Timeout: kibanaRequestTimeout}}
	return k.importObjects(kctx, cfg.KibanaTimeout, deploy.KibanaObjects, stdout, log)
}

// waitElasticsearch waits until the cluster answers a health request,
// about once a second, each attempt logged; refused credentials end the
// wait at once, and so does an untrusted certificate (naming ES_CA_CERT):
// no wait fixes either.
func waitElasticsearch(ctx context.Context, esc *elastic.Client, log *slog.Logger) error {
	_, err := retry.Do(ctx, retry.Backoff{Initial: time.Second, Max: time.Second}, func() (struct{}, error) {
		err := esc.Health(ctx)
		if errors.Is(err, elastic.ErrForbidden) || trust.IsCertificateError(err) {
			return struct{}{}, retry.Permanent(err)
		}
		return struct{}{}, err
	}, func(attempt int, err error, wait time.Duration) {
		log.Warn("elasticsearch not ready, retrying", "attempt", attempt, "error", err.Error())
	})
	if err != nil {
		return fmt.Errorf("reach elasticsearch: %w", err)
	}
	return nil
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}
