// Package orderstats is the one home of the questions orderpipe asks
// Elasticsearch about the orders index: each panel of Kibana's "Orders —
// live" dashboard as an aggregation (buckets outermost first, metrics
// innermost, as Kibana nests them), the time ranges and bucket sizes, the
// latest-orders search, and the reading of the answers.
//
// It builds request bodies and decodes responses and sends nothing itself,
// so `orderctl dashboard` (through internal/elastic) and deploy's tests that
// prove the Kibana panels on a real Elasticsearch (through plain HTTP) run
// exactly the same aggregations.
package orderstats

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Bucket is one bucket aggregation of a panel.
type Bucket struct {
	Op    string // terms, date_histogram, geotile_grid
	Field string
	Size  int // terms only (0: 10, Elasticsearch's default)
}

// Metric is one metric of a panel; Op "count" is the bucket's doc_count.
type Metric struct {
	Op    string // count, sum, avg, min, max, cardinality
	Field string
}

// Panel is one chart or number: what it buckets by and what it measures.
type Panel struct {
	ID      string
	Title   string
	Buckets []Bucket
	Metrics []Metric
	// KibanaID is the saved object in deploy/kibana this panel shows the
	// same data as; deploy's tests hold the two to the same aggregation.
	KibanaID string
}

// Signature names what the panel asks, e.g. "terms(status)|count", so that
// two panels can be compared whatever their titles.
func (p Panel) Signature() string {
	var parts []string
	for _, b := range p.Buckets {
		parts = append(parts, fmt.Sprintf("%s(%s)", b.Op, b.Field))
	}
	for _, m := range p.Metrics {
		if m.Op == "count" {
			parts = append(parts, "count")
		} else {
			parts = append(parts, fmt.Sprintf("%s(%s)", m.Op, m.Field))
		}
	}
	return strings.Join(parts, "|")
}

// GeotilePrecision is the zoom of geotile_grid buckets: countries and large
// regions, what a whole-world map shows.
const GeotilePrecision = 4

// Aggs returns the panel's nested aggregations for r: bucket levels named
// b0, b1..., metrics m<i> (i its index in Metrics) inside the innermost.
// Date histograms span the whole range with empty buckets too, so a chart's
// x axis is the range and a quiet minute shows as zero.
func (p Panel) Aggs(r Range) map[string]any {
	metrics := map[string]any{}
	for i, m := range p.Metrics {
		if m.Op == "count" {
			continue
		}
		metrics[fmt.Sprintf("m%d", i)] = map[string]any{m.Op: map[string]any{"field": m.Field}}
	}
	inner := metrics
	for i := len(p.Buckets) - 1; i >= 0; i-- {
		b := p.Buckets[i]
		var agg map[string]any
		switch b.Op {
		case "terms":
			size := b.Size
			if size == 0 {
				size = 10
			}
			terms := map[string]any{"field": b.Field, "size": size}
			// Kibana's panels order terms by their metric column: the
			// top categories by revenue are those with the most revenue,
			// not the most orders.
			if i == len(p.Buckets)-1 && len(p.Metrics) > 0 && p.Metrics[0].Op != "count" {
				terms["order"] = map[string]any{"m0": "desc"}
			}
			agg = map[string]any{"terms": terms}
		case "date_histogram":
			agg = map[string]any{"date_histogram": map[string]any{
				"field": b.Field, "fixed_interval": r.Interval, "min_doc_count": 0,
				"extended_bounds": map[string]any{"min": "now-" + r.Name, "max": "now"},
			}}
		case "geotile_grid":
			agg = map[string]any{"geotile_grid": map[string]any{"field": b.Field, "precision": GeotilePrecision}}
		}
		if len(inner) > 0 {
			agg["aggs"] = inner
		}
		inner = map[string]any{fmt.Sprintf("b%d", i): agg}
	}
	return inner
}

// Row is one innermost bucket of a panel's answer: its keys (one per bucket
// level, outermost first), its document count and the panel's metrics in
// Metrics order (a count metric is Count; an empty bucket's avg is 0).
type Row struct {
	Keys   []string  `json:"keys"`
	Count  int64     `json:"count"`
	Values []float64 `json:"values"`
}

// Rows reads the panel's part of a search response's "aggregations" (the
// object Aggs was sent as). A panel without buckets has one row, whose
// count is total (the hits the query matched).
func (p Panel) Rows(aggs json.RawMessage, total int64) ([]Row, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(aggs, &top); err != nil {
		return nil, fmt.Errorf("read aggregations of %s: %w", p.ID, err)
	}
	return p.rows(top, 0, nil, total)
}

type bucketJSON struct {
	Key         json.RawMessage `json:"key"`
	KeyAsString string          `json:"key_as_string"`
	DocCount    int64           `json:"doc_count"`
}

func (p Panel) rows(level map[string]json.RawMessage, depth int, keys []string, count int64) ([]Row, error) {
	if depth == len(p.Buckets) {
		row := Row{Keys: keys, Count: count, Values: make([]float64, len(p.Metrics))}
		for i, m := range p.Metrics {
			if m.Op == "count" {
				row.Values[i] = float64(count)
				continue
			}
			raw, ok := level[fmt.Sprintf("m%d", i)]
			if !ok {
				return nil, fmt.Errorf("read %s: metric %s(%s) missing from the answer", p.ID, m.Op, m.Field)
			}
			var v struct {
				Value *float64 `json:"value"`
			}
			if err := json.Unmarshal(raw, &v); err != nil {
				return nil, fmt.Errorf("read %s: metric %s(%s): %w", p.ID, m.Op, m.Field, err)
			}
			if v.Value != nil {
				row.Values[i] = *v.Value
			}
		}
		return []Row{row}, nil
	}
	b := p.Buckets[depth]
	raw, ok := level[fmt.Sprintf("b%d", depth)]
	if !ok {
		return nil, fmt.Errorf("read %s: %s(%s) missing from the answer", p.ID, b.Op, b.Field)
	}
	var agg struct {
		Buckets []json.RawMessage `json:"buckets"`
	}
	if err := json.Unmarshal(raw, &agg); err != nil {
		return nil, fmt.Errorf("read %s: %s(%s): %w", p.ID, b.Op, b.Field, err)
	}
	var out []Row
	for _, rb := range agg.Buckets {
		var bj bucketJSON
		var sub map[string]json.RawMessage
		if err := json.Unmarshal(rb, &bj); err != nil {
			return nil, fmt.Errorf("read %s: %s(%s) bucket: %w", p.ID, b.Op, b.Field, err)
		}
		if err := json.Unmarshal(rb, &sub); err != nil {
			return nil, fmt.Errorf("read %s: %s(%s) bucket: %w", p.ID, b.Op, b.Field, err)
		}
		key := bj.KeyAsString
		if b.Op == "date_histogram" || key == "" {
			// Epoch milliseconds for time buckets: what a chart's x axis wants.
			var s string
			if json.Unmarshal(bj.Key, &s) == nil {
				key = s
			} else {
				key = string(bj.Key)
			}
		}
		rows, err := p.rows(sub, depth+1, append(keys[:len(keys):len(keys)], key), bj.DocCount)
		if err != nil {
			return nil, err
		}
		out = append(out, rows...)
	}
	return out, nil
}
