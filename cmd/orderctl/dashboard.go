package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/orderpipe/orderpipe/internal/dashboard"
	"github.com/orderpipe/orderpipe/internal/kafka"
	"github.com/orderpipe/orderpipe/internal/ops"
	"github.com/orderpipe/orderpipe/internal/settings"
)

// DashboardConfig wraps dashboard.Config as ESConfig wraps elastic.Config,
// so it can be embedded beside kafka.Config.
type DashboardConfig struct{ dashboard.Config }

type dashboardConfig struct {
	DashboardConfig
	ESConfig
	kafka.Config
	kafka.TopicConfig
	kafka.DLQConfig
	kafka.GroupConfig
	ops.ToolLogConfig
}

const dashboardSummary = `dashboard serves one page, refreshed in place every DASHBOARD_REFRESH: what Kibana's
"Orders — live" dashboard shows (total, revenue, average order value, orders and
revenue over time, by status, channel, payment method, category and country, the
latest orders) over 15m, 1h, 24h or 7d, and the pipeline's health: producer and
consumer rates, readiness and end-to-end latency from their /metrics addresses
(DASHBOARD_PRODUCER_METRICS, DASHBOARD_CONSUMER_METRICS), the group's lag per
partition and the dead letters from Kafka. It only reads: a user with the read
privilege on the index alone is enough (role orderpipe_reader in
deploy/elasticsearch/orderpipe-reader-role.json). Ctrl-C stops it.`

func runDashboard(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg dashboardConfig
	fs := newFlags("dashboard", dashboardSummary, &cfg, stdout)
	probe := fs.Bool("probe", false, "only check that the dashboard on DASHBOARD_ADDR answers (a container's health check), exit 0 if it does")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := settings.Load(&cfg); err != nil {
		return err
	}
	if *probe {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return ops.Probe(ctx, cfg.Addr)
	}
	for _, v := range []interface{ Validate() error }{cfg.DashboardConfig.Config, cfg.ESConfig.Config, cfg.TopicConfig, cfg.ToolLogConfig.LogConfig()} {
		if err := v.Validate(); err != nil {
			return settings.Usage(err)
		}
	}
	if err := cfg.DLQConfig.Validate(cfg.TopicConfig); err != nil {
		return settings.Usage(err)
	}
	if cfg.Group == "" {
		return settings.Usage(&settings.Error{Variable: "CONSUMER_GROUP", Reason: "must not be empty"})
	}
	if err := cfg.Config.Validate(); err != nil { // Kafka's
		return settings.Usage(err)
	}
	log, err := ops.NewLogger(stderr, cfg.ToolLogConfig.LogConfig(), "orderctl-dashboard")
	if err != nil {
		return settings.Usage(err)
	}
	esc, err := newES(cfg.ESConfig)
	if err != nil {
		return err
	}
	admin, err := kafka.NewAdmin(cfg.Config)
	if err != nil {
		return settings.Usage(err)
	}
	srv, err := dashboard.Listen(dashboard.Options{
		Config: cfg.DashboardConfig.Config, TopicConfig: cfg.TopicConfig, DLQConfig: cfg.DLQConfig, GroupConfig: cfg.GroupConfig,
		ES: esc, Admin: admin, Log: log,
	})
	if err != nil {
		return err
	}
	log.Info("dashboard serving", "url", srv.URL(), "settings", settings.LogValue(&cfg))
	fmt.Fprintf(stdout, "dashboard: %s\n", srv.URL())
	return srv.Run(ctx)
}
