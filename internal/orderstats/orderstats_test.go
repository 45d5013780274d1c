package orderstats

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestAggsNestBucketsOutermostFirst(t *testing.T) {
	p := Panel{ID: "x", Buckets: []Bucket{{Op: "terms", Field: "status"}, {Op: "date_histogram", Field: TimeField}},
		Metrics: []Metric{{Op: "count"}, {Op: "sum", Field: "total"}}}
	got, _ := json.Marshal(p.Aggs(Range{Name: "1h", Interval: "1m"}))
	want := `{"b0":{"aggs":{"b1":{"aggs":{"m1":{"sum":{"field":"total"}}},"date_histogram":{"extended_bounds":{"max":"now","min":"now-1h"},"field":"created_at","fixed_interval":"1m","min_doc_count":0}}},"terms":{"field":"status","size":10}}}`
	if string(got) != want {
		t.Errorf("aggs\n got %s\nwant %s", got, want)
	}
	if sig := p.Signature(); sig != "terms(status)|date_histogram(created_at)|count|sum(total)" {
		t.Errorf("signature %s", sig)
	}
}

func TestRows(t *testing.T) {
	p := Panel{ID: "x", Buckets: []Bucket{{Op: "terms", Field: "status"}, {Op: "date_histogram", Field: TimeField}},
		Metrics: []Metric{{Op: "count"}, {Op: "avg", Field: "total"}}}
	aggs := `{"b0":{"buckets":[
		{"key":"paid","doc_count":3,"b1":{"buckets":[
			{"key":1700000000000,"key_as_string":"2023-11-14T22:13:20.000Z","doc_count":3,"m1":{"value":12.5}},
			{"key":1700000060000,"key_as_string":"2023-11-14T22:14:20.000Z","doc_count":0,"m1":{"value":null}}]}},
		{"key":"created","doc_count":0,"b1":{"buckets":[]}}]}}`
	rows, err := p.Rows(json.RawMessage(aggs), 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []Row{
		{Keys: []string{"paid", "1700000000000"}, Count: 3, Values: []float64{3, 12.5}},
		{Keys: []string{"paid", "1700000060000"}, Count: 0, Values: []float64{0, 0}},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("rows %+v, want %+v", rows, want)
	}
	if _, err := p.Rows(json.RawMessage(`{"b0":{"buckets":[{"key":"paid","doc_count":1}]}}`), 1); err == nil {
		t.Error("an answer missing a level read without error")
	}
}

func TestRangeNamed(t *testing.T) {
	for _, name := range []string{"15m", "1h", "24h", "7d"} {
		if r, ok := RangeNamed(name); !ok || r.Name != name || r.Interval == "" {
			t.Errorf("RangeNamed(%q) = %+v, %v", name, r, ok)
		}
	}
	for _, name := range []string{"", "2d", "now-1h", "1H"} {
		if _, ok := RangeNamed(name); ok {
			t.Errorf("RangeNamed(%q) accepted", name)
		}
	}
}

func TestSearchAsksOnlyDisplayColumns(t *testing.T) {
	s := Search(DefaultRange, 7)
	if s["size"] != 7 || !reflect.DeepEqual(s["_source"], Recent.Columns) || s["track_total_hits"] != true {
		t.Errorf("search %v", s)
	}
	aggs := s["aggs"].(map[string]any)
	for _, p := range Panels {
		if _, ok := aggs[p.ID]; !ok {
			t.Errorf("search lacks panel %s", p.ID)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"hits":{"total":{"value":0},"hits":[]},"aggregations":{}}`))
	f.Add([]byte(`{"hits":{"total":{"value":2},"hits":[{"_source":{"order_id":"a"}}]},"aggregations":{"revenue":{"doc_count":2,"m0":{"value":3}}}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		res, err := Decode("1h", body)
		if err != nil {
			return
		}
		for _, p := range Panels {
			if _, ok := res.Panels[p.ID]; !ok {
				t.Fatalf("decoded without panel %s", p.ID)
			}
		}
	})
}

// TestTermsOrderedByMetric: as Kibana's panels, terms under a sum are the
// top ones by that sum; under a count, by count (Elasticsearch's default).
func TestTermsOrderedByMetric(t *testing.T) {
	r := DefaultRange
	for _, p := range Panels {
		if len(p.Buckets) == 0 || p.Buckets[0].Op != "terms" {
			continue
		}
		terms := p.Aggs(r)["b0"].(map[string]any)["terms"].(map[string]any)
		order, ordered := terms["order"]
		if byMetric := p.Metrics[0].Op != "count"; byMetric != ordered || byMetric && !reflect.DeepEqual(order, map[string]any{"m0": "desc"}) {
			t.Errorf("%s: order %v, want by its metric only when it is not a count", p.ID, order)
		}
	}
}
