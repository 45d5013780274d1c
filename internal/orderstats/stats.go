package orderstats

import (
	"encoding/json"
	"fmt"
	"slices"
)

// TimeField is the field every panel filters and buckets on: Kibana's data
// view time field, created_at, so a bar counts orders when they were placed.
const TimeField = "created_at"

// Range is one choice of the time range selector: Name is also Elasticsearch
// date math (now-<Name>), Interval the fixed bucket of its time charts.
type Range struct {
	Name     string
	Interval string
}

// Ranges are the time ranges a page offers; the first is the default. Each
// draws 30 to 60 bars, what a laptop-wide chart shows legibly.
var Ranges = []Range{
	{Name: "15m", Interval: "30s"},
	{Name: "1h", Interval: "1m"},
	{Name: "24h", Interval: "30m"},
	{Name: "7d", Interval: "3h"},
}

// DefaultRange is the range of Kibana's dashboard (now-24h).
var DefaultRange = Ranges[2]

// RangeNamed returns the range called name, and false for any other name.
func RangeNamed(name string) (Range, bool) {
	i := slices.IndexFunc(Ranges, func(r Range) bool { return r.Name == name })
	if i < 0 {
		return Range{}, false
	}
	return Ranges[i], true
}

// Panels are what the page shows of Kibana's "Orders — live" dashboard,
// beside the total (the hits a query matches). Kibana's map of revenue by
// shipping location has no panel here: the page shows revenue by country,
// the dashboard's other view of the same money, and draws no map (no tile
// server is reachable offline).
var Panels = []Panel{
	{ID: "revenue", Title: "Revenue", Metrics: []Metric{{Op: "sum", Field: "total"}}},
	{ID: "average-order-value", Title: "Average order value", Metrics: []Metric{{Op: "avg", Field: "total"}},
		KibanaID: "orderpipe-lens-average-order-value"},
	{ID: "orders-over-time", Title: "Orders over time", Buckets: []Bucket{{Op: "date_histogram", Field: TimeField}},
		Metrics: []Metric{{Op: "count"}}, KibanaID: "orderpipe-lens-orders-per-minute"},
	{ID: "revenue-over-time", Title: "Revenue over time", Buckets: []Bucket{{Op: "date_histogram", Field: TimeField}},
		Metrics: []Metric{{Op: "sum", Field: "total"}}, KibanaID: "orderpipe-lens-revenue-over-time"},
	{ID: "orders-by-status", Title: "Orders by status", Buckets: []Bucket{{Op: "terms", Field: "status", Size: 5}},
		Metrics: []Metric{{Op: "count"}}, KibanaID: "orderpipe-lens-orders-by-status"},
	{ID: "orders-by-channel", Title: "Orders by channel", Buckets: []Bucket{{Op: "terms", Field: "channel", Size: 10}},
		Metrics: []Metric{{Op: "count"}}, KibanaID: "orderpipe-lens-orders-by-channel"},
	{ID: "payment-methods", Title: "Payment methods", Buckets: []Bucket{{Op: "terms", Field: "payment.method", Size: 10}},
		Metrics: []Metric{{Op: "count"}}, KibanaID: "orderpipe-lens-payment-methods"},
	{ID: "top-categories", Title: "Top categories by revenue", Buckets: []Bucket{{Op: "terms", Field: "items.category", Size: 10}},
		Metrics: []Metric{{Op: "sum", Field: "items.line_total"}}, KibanaID: "orderpipe-lens-top-categories"},
	{ID: "revenue-by-country", Title: "Revenue by country", Buckets: []Bucket{{Op: "terms", Field: "shipping.country_code", Size: 15}},
		Metrics: []Metric{{Op: "sum", Field: "total"}}, KibanaID: "orderpipe-lens-revenue-by-country"},
}

// Recent is Kibana's "Recent orders" saved search: its columns (the only
// fields of an order the page is sent) and its sort.
var Recent = struct {
	KibanaID string
	Columns  []string
	SortBy   string // descending
}{
	KibanaID: "orderpipe-search-recent-orders",
	Columns:  []string{"order_id", "status", "version", "customer.name", "channel", "item_count", "total", "currency", "payment.method", "shipping.country"},
	SortBy:   "updated_at",
}

// RangeFilter is the query every panel runs under, as Kibana's time
// filter: TimeField within the last r.
func RangeFilter(r Range) map[string]any {
	return map[string]any{"bool": map[string]any{"filter": []any{
		map[string]any{"range": map[string]any{TimeField: map[string]any{"gte": "now-" + r.Name, "lte": "now"}}},
	}}}
}

// Search is the one request behind a page: every panel over r, the exact
// number of matching orders, and the latest orders (Recent) in r.
func Search(r Range, latest int) map[string]any {
	aggs := map[string]any{}
	for _, p := range Panels {
		// A filter aggregation matching everything gives each panel a
		// namespace of its own for its b0/m0 names.
		aggs[p.ID] = map[string]any{"filter": map[string]any{"match_all": map[string]any{}}, "aggs": p.Aggs(r)}
	}
	return map[string]any{
		"size": latest, "track_total_hits": true,
		"query":   RangeFilter(r),
		"sort":    []any{map[string]any{Recent.SortBy: map[string]any{"order": "desc"}}},
		"_source": Recent.Columns,
		"aggs":    aggs,
	}
}

// Result is a page's data: aggregates and the latest orders, nothing else.
type Result struct {
	Range  string           `json:"range"`
	Total  int64            `json:"total"`
	Panels map[string][]Row `json:"panels"`
	Latest []map[string]any `json:"latest"`
}

// Decode reads the answer to Search.
func Decode(rangeName string, body []byte) (Result, error) {
	var res struct {
		Hits struct {
			Total struct {
				Value int64 `json:"value"`
			} `json:"total"`
			Hits []struct {
				Source map[string]any `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
		Aggregations map[string]json.RawMessage `json:"aggregations"`
	}
	if err := json.Unmarshal(body, &res); err != nil {
		return Result{}, fmt.Errorf("read search answer: %w", err)
	}
	out := Result{Range: rangeName, Total: res.Hits.Total.Value, Panels: map[string][]Row{}, Latest: []map[string]any{}}
	for _, p := range Panels {
		raw, ok := res.Aggregations[p.ID]
		if !ok {
			return Result{}, fmt.Errorf("read search answer: panel %s missing", p.ID)
		}
		rows, err := p.Rows(raw, res.Hits.Total.Value)
		if err != nil {
			return Result{}, err
		}
		if rows == nil {
			rows = []Row{}
		}
		out.Panels[p.ID] = rows
	}
	for _, h := range res.Hits.Hits {
		out.Latest = append(out.Latest, h.Source)
	}
	return out, nil
}
