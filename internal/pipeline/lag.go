package pipeline

import (
	"context"
	"log/slog"
	"time"

	"github.com/orderpipe/orderpipe/internal/kafka"
)

// MonitorLag publishes the group's lag per partition every interval until
// ctx ends. It asks the brokers (end offsets minus committed offsets), so the
// gauge is right whichever member owns a partition, and a broker that stops
// answering shows up in /readyz even while the reader is silently waiting.
func MonitorLag(ctx context.Context, admin *kafka.Admin, group, topic string, interval time.Duration, m *Metrics, h *Health, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := false
	for {
		rctx, cancel := context.WithTimeout(ctx, interval)
		lag, err := admin.GroupLag(rctx, group, topic)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			h.Set("kafka", "kafka unavailable: "+err.Error()+"; retrying")
			if !failing {
				log.Warn("cannot read consumer lag from kafka", "error", err.Error())
			}
			failing = true
		default:
			if failing {
				log.Info("kafka answers again")
			}
			failing = false
			h.Set("kafka", "")
			for p, l := range lag {
				m.Lag.WithLabelValues(partitionLabel(p)).Set(float64(l))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
