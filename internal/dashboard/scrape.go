package dashboard

// Reading a daemon's /metrics and /readyz: the Prometheus text format is
// parsed by prometheus/common's expfmt, rates and latency quantiles come
// from the difference between this scrape and the one before.

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// sample is one scrape of a daemon's /metrics.
type sample struct {
	at       time.Time
	families map[string]*dto.MetricFamily
}

// counter is the sum of a counter (or untyped) family's series, and
// whether the family was there.
func (s sample) counter(name string) (float64, bool) {
	f, ok := s.families[name]
	if !ok {
		return 0, false
	}
	var sum float64
	for _, m := range f.GetMetric() {
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Untyped != nil:
			sum += m.GetUntyped().GetValue()
		}
	}
	return sum, true
}

// byLabel is a counter family's value per value of label.
func (s sample) byLabel(name, label string) map[string]float64 {
	out := map[string]float64{}
	for _, m := range s.families[name].GetMetric() {
		for _, lp := range m.GetLabel() {
			if lp.GetName() == label {
				out[lp.GetValue()] += m.GetCounter().GetValue()
			}
		}
	}
	return out
}

// histogram is a histogram family's cumulative buckets (upper bound ->
// count, +Inf included) and count, summed over its series.
func (s sample) histogram(name string) (map[float64]float64, float64) {
	buckets := map[float64]float64{}
	var count float64
	for _, m := range s.families[name].GetMetric() {
		h := m.GetHistogram()
		if h == nil {
			continue
		}
		count += float64(h.GetSampleCount())
		for _, b := range h.GetBucket() {
			buckets[b.GetUpperBound()] += float64(b.GetCumulativeCount())
		}
		buckets[math.Inf(1)] += float64(h.GetSampleCount())
	}
	return buckets, count
}

// quantile estimates the q-quantile of cumulative buckets holding count
// observations as Prometheus's histogram_quantile does: linear within the
// bucket it falls in; in the +Inf bucket it is the highest finite bound,
// and above says the true value is beyond it.
func quantile(q float64, buckets map[float64]float64, count float64) (v float64, above, ok bool) {
	if count <= 0 {
		return 0, false, false
	}
	bounds := make([]float64, 0, len(buckets))
	for b := range buckets {
		bounds = append(bounds, b)
	}
	sort.Float64s(bounds)
	rank := q * count
	lower, below := 0.0, 0.0
	for _, ub := range bounds {
		c := buckets[ub]
		if c >= rank {
			if math.IsInf(ub, 1) {
				return lower, true, true
			}
			if c == below {
				return ub, false, true
			}
			return lower + (ub-lower)*(rank-below)/(c-below), false, true
		}
		lower, below = ub, c
	}
	return lower, true, true
}

// target is one daemon whose /metrics the page shows; it keeps the last
// scrape so the next one can turn counters into rates.
type target struct {
	metricsURL, readyURL string
	client               *http.Client

	mu     sync.Mutex
	recent []sample // the last minute of scrapes, oldest first
}

func newTarget(metricsURL string, client *http.Client) *target {
	ready := metricsURL
	if u, err := url.Parse(metricsURL); err == nil {
		u.Path, u.RawQuery = "/readyz", ""
		ready = u.String()
	}
	return &target{metricsURL: metricsURL, readyURL: ready, client: client}
}

// scrape reads /metrics now and returns it with the scrape before it (nil
// on the first).
func (t *target) scrape(ctx context.Context) (cur sample, prev *sample, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.metricsURL, nil)
	if err != nil {
		return sample{}, nil, fmt.Errorf("scrape %s: %w", t.metricsURL, err)
	}
	res, err := t.client.Do(req)
	if err != nil {
		return sample{}, nil, fmt.Errorf("scrape %s: %w", t.metricsURL, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return sample{}, nil, fmt.Errorf("scrape %s: HTTP %d", t.metricsURL, res.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(io.LimitReader(res.Body, 8<<20))
	if err != nil {
		return sample{}, nil, fmt.Errorf("scrape %s: %w", t.metricsURL, err)
	}
	cur = sample{at: time.Now(), families: fams}
	t.mu.Lock()
	defer t.mu.Unlock()
	return cur, t.baseline(cur), nil
}

// baseline picks the scrape to compare cur with: the newest at least a
// second older, so that refreshes in quick succession (two tabs, a range
// change) do not compute a rate over a few milliseconds, else the oldest
// kept; then it keeps cur and forgets what is over a minute old.
func (t *target) baseline(cur sample) *sample {
	var prev *sample
	for i := len(t.recent) - 1; i >= 0; i-- {
		if cur.at.Sub(t.recent[i].at) >= time.Second {
			prev = &t.recent[i]
			break
		}
	}
	if prev == nil && len(t.recent) > 0 {
		prev = &t.recent[0]
	}
	if prev != nil {
		p := *prev // t.recent changes below
		prev = &p
	}
	t.recent = append(t.recent, cur)
	for len(t.recent) > 1 && cur.at.Sub(t.recent[0].at) > time.Minute {
		t.recent = t.recent[1:]
	}
	return prev
}

// ready asks /readyz: ready, or the daemon's reason why not.
func (t *target) ready(ctx context.Context) (bool, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.readyURL, nil)
	if err != nil {
		return false, "", fmt.Errorf("ask %s: %w", t.readyURL, err)
	}
	res, err := t.client.Do(req)
	if err != nil {
		return false, "", fmt.Errorf("ask %s: %w", t.readyURL, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1024))
	return res.StatusCode == http.StatusOK, strings.TrimSpace(string(body)), nil
}

// rate is how fast counter name grew between prev and cur, per second;
// false without a previous scrape or across a restart (counter reset).
func rate(name string, cur sample, prev *sample) (float64, bool) {
	if prev == nil {
		return 0, false
	}
	c, ok1 := cur.counter(name)
	p, ok2 := prev.counter(name)
	dt := cur.at.Sub(prev.at).Seconds()
	if !ok1 || !ok2 || c < p || dt <= 0 {
		return 0, false
	}
	return (c - p) / dt, true
}
