package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io/fs"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/internal/orderstats"
)

const dataViewID = "orderpipe-orders-dataview"

// timeField is the one time field of the dashboard: the data view's time
// filter and every chart's time axis. It is created_at, so the charts count
// orders when they were placed and a bar does not shrink as its orders move
// on through their lifecycle; if the filter and the buckets used different
// fields, a chart would show orders outside the time range it claims.
const timeField = orderstats.TimeField

// kibanaMaxBars is Kibana's histogram:maxBars default: a date histogram whose
// fixed interval would draw more bars over the dashboard's range is scaled
// up to a coarser interval, so its title would no longer say what it shows.
const kibanaMaxBars = 100

type savedObject struct {
	ID                   string         `json:"id"`
	Type                 string         `json:"type"`
	CoreMigrationVersion string         `json:"coreMigrationVersion"`
	TypeMigrationVersion string         `json:"typeMigrationVersion"`
	Attributes           map[string]any `json:"attributes"`
	References           []struct {
		ID   string `json:"id"`
		Type string `json:"type"`
		Name string `json:"name"`
	} `json:"references"`
}

func (o savedObject) ref(name string) (string, bool) {
	for _, r := range o.References {
		if r.Name == name {
			return r.ID, true
		}
	}
	return "", false
}

func loadSavedObjects(t *testing.T) []savedObject {
	t.Helper()
	files, err := fs.Glob(KibanaObjects, "kibana/*.ndjson")
	if err != nil || len(files) == 0 {
		t.Fatalf("no kibana/*.ndjson embedded: %v", err)
	}
	var out []savedObject
	for _, f := range files {
		b, _ := fs.ReadFile(KibanaObjects, f)
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
		for n := 1; sc.Scan(); n++ {
			line := bytes.TrimSpace(sc.Bytes())
			if len(line) == 0 {
				continue
			}
			var o savedObject
			if err := json.Unmarshal(line, &o); err != nil {
				t.Fatalf("%s:%d is not a JSON object: %v", f, n, err)
			}
			if o.ID == "" || o.Type == "" || o.Attributes == nil {
				t.Fatalf("%s:%d lacks id, type or attributes", f, n)
			}
			out = append(out, o)
		}
	}
	return out
}

func jsonAttr(t *testing.T, o savedObject, path ...string) any {
	t.Helper()
	var cur any = o.Attributes
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			t.Fatalf("%s %s: %s is not an object", o.Type, o.ID, strings.Join(path, "."))
		}
		cur = m[p]
	}
	s, ok := cur.(string)
	if !ok {
		t.Fatalf("%s %s: %s is not a JSON string", o.Type, o.ID, strings.Join(path, "."))
	}
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("%s %s: %s does not parse: %v", o.Type, o.ID, strings.Join(path, "."), err)
	}
	return v
}

// panelQuery is what a panel asks Elasticsearch: nested bucket aggregations
// (outermost first) with metrics inside. The ES test runs it through
// internal/orderstats, which builds the page's aggregations too.
type panelQuery struct {
	ID      string
	Title   string
	Buckets []bucketSpec
	Metrics []metricSpec
	Search  *searchSpec
}

type bucketSpec struct {
	Op       string // terms, date_histogram, geotile_grid
	Field    string
	Interval string
	Size     int
	OrderBy  string // terms: the operation of the column Kibana orders by ("" for none)
}

type metricSpec = orderstats.Metric

type searchSpec struct {
	Columns []string
	Sort    [][2]string
}

// panel is the query as internal/orderstats runs it.
func (q panelQuery) panel() orderstats.Panel {
	p := orderstats.Panel{ID: q.ID, Title: q.Title, Metrics: q.Metrics}
	for _, b := range q.Buckets {
		p.Buckets = append(p.Buckets, orderstats.Bucket{Op: b.Op, Field: b.Field, Size: b.Size})
	}
	return p
}

func (q panelQuery) signature() string {
	if q.Search != nil {
		return strings.Join(slices.DeleteFunc([]string{q.panel().Signature(), "search"}, func(s string) bool { return s == "" }), "|")
	}
	return q.panel().Signature()
}

// panelQueries extracts what every visualization, map and saved search in the
// NDJSON asks for, checking field existence and types against the template.
func panelQueries(t *testing.T, objs []savedObject) map[string]panelQuery {
	t.Helper()
	fields := templateFields(t)
	need := func(o savedObject, field string, agg bool, kinds ...string) {
		t.Helper()
		fm, ok := fields[field]
		if !ok {
			t.Errorf("%s %s uses %s, which orders-template.json does not map", o.Type, o.ID, field)
			return
		}
		if agg && !fm.aggregatable() {
			t.Errorf("%s %s aggregates on %s, a %s field (not aggregatable)", o.Type, o.ID, field, fm.Type)
		}
		if len(kinds) > 0 && !slices.Contains(kinds, fm.Type) && !(slices.Contains(kinds, "number") && fm.numeric()) {
			t.Errorf("%s %s needs %s to be %v, it is %s", o.Type, o.ID, field, kinds, fm.Type)
		}
	}
	out := map[string]panelQuery{}
	for _, o := range objs {
		title, _ := o.Attributes["title"].(string)
		q := panelQuery{ID: o.ID, Title: title}
		switch o.Type {
		case "lens":
			state, _ := o.Attributes["state"].(map[string]any)
			ds, _ := state["datasourceStates"].(map[string]any)
			fb, _ := ds["formBased"].(map[string]any)
			layers, _ := fb["layers"].(map[string]any)
			if len(layers) != 1 {
				t.Errorf("lens %s: want exactly one formBased layer, got %d", o.ID, len(layers))
			}
			for layerID, raw := range layers {
				if id, ok := o.ref("indexpattern-datasource-layer-" + layerID); !ok || id != dataViewID {
					t.Errorf("lens %s: layer %s has no reference to the orders data view", o.ID, layerID)
				}
				layer := raw.(map[string]any)
				cols, _ := layer["columns"].(map[string]any)
				order, _ := layer["columnOrder"].([]any)
				if len(order) != len(cols) {
					t.Errorf("lens %s: columnOrder has %d ids for %d columns", o.ID, len(order), len(cols))
				}
				for _, idAny := range order {
					id, _ := idAny.(string)
					c, ok := cols[id].(map[string]any)
					if !ok {
						t.Errorf("lens %s: columnOrder names unknown column %s", o.ID, id)
						continue
					}
					op, _ := c["operationType"].(string)
					field, _ := c["sourceField"].(string)
					params, _ := c["params"].(map[string]any)
					switch op {
					case "count":
						q.Metrics = append(q.Metrics, metricSpec{Op: "count"})
					case "sum", "avg", "min", "max", "median":
						need(o, field, true, "number")
						q.Metrics = append(q.Metrics, metricSpec{Op: op, Field: field})
					case "unique_count":
						need(o, field, true)
						q.Metrics = append(q.Metrics, metricSpec{Op: "cardinality", Field: field})
					case "terms":
						need(o, field, true)
						size, _ := params["size"].(float64)
						var orderBy string
						if ob, _ := params["orderBy"].(map[string]any); ob["type"] == "column" {
							col, _ := ob["columnId"].(string)
							oc, _ := cols[col].(map[string]any)
							orderBy, _ = oc["operationType"].(string)
						}
						q.Buckets = append(q.Buckets, bucketSpec{Op: "terms", Field: field, Size: int(size), OrderBy: orderBy})
					case "date_histogram":
						need(o, field, true, "date")
						iv, _ := params["interval"].(string)
						q.Buckets = append(q.Buckets, bucketSpec{Op: "date_histogram", Field: field, Interval: iv})
					default:
						t.Errorf("lens %s: operation %q is not understood by this test", o.ID, op)
					}
				}
				// Every accessor the visualization shows is a column of the layer.
				vis, _ := state["visualization"].(map[string]any)
				for _, acc := range accessors(vis) {
					if _, ok := cols[acc]; !ok {
						t.Errorf("lens %s: visualization uses accessor %s, not a column", o.ID, acc)
					}
				}
			}
		case "map":
			layers, _ := jsonAttr(t, o, "layerListJSON").([]any)
			for _, l := range layers {
				src, _ := l.(map[string]any)["sourceDescriptor"].(map[string]any)
				typ, _ := src["type"].(string)
				if !strings.HasPrefix(typ, "ES_") {
					continue
				}
				refName, _ := src["indexPatternRefName"].(string)
				if id, ok := o.ref(refName); !ok || id != dataViewID {
					t.Errorf("map %s: layer source %q does not reference the orders data view", o.ID, refName)
				}
				geo, _ := src["geoField"].(string)
				need(o, geo, true, "geo_point")
				q.Buckets = append(q.Buckets, bucketSpec{Op: "geotile_grid", Field: geo})
				ms, _ := src["metrics"].([]any)
				for _, m := range ms {
					mm := m.(map[string]any)
					op, _ := mm["type"].(string)
					field, _ := mm["field"].(string)
					if op != "count" {
						need(o, field, true, "number")
					}
					q.Metrics = append(q.Metrics, metricSpec{Op: op, Field: field})
				}
			}
		case "search":
			ss := jsonAttr(t, o, "kibanaSavedObjectMeta", "searchSourceJSON").(map[string]any)
			refName, _ := ss["indexRefName"].(string)
			if id, ok := o.ref(refName); !ok || id != dataViewID {
				t.Errorf("search %s does not reference the orders data view", o.ID)
			}
			spec := &searchSpec{}
			cols, _ := o.Attributes["columns"].([]any)
			for _, c := range cols {
				f, _ := c.(string)
				need(o, f, false)
				spec.Columns = append(spec.Columns, f)
			}
			sorts, _ := o.Attributes["sort"].([]any)
			for _, s := range sorts {
				pair, _ := s.([]any)
				if len(pair) != 2 {
					t.Errorf("search %s: bad sort %v", o.ID, s)
					continue
				}
				f, _ := pair[0].(string)
				dir, _ := pair[1].(string)
				need(o, f, true)
				spec.Sort = append(spec.Sort, [2]string{f, dir})
			}
			q.Search = spec
		default:
			continue
		}
		out[o.ID] = q
	}
	return out
}

func accessors(vis map[string]any) []string {
	var out []string
	add := func(v any) {
		switch v := v.(type) {
		case string:
			out = append(out, v)
		case []any:
			for _, x := range v {
				if s, ok := x.(string); ok {
					out = append(out, s)
				}
			}
		}
	}
	for _, k := range []string{"metricAccessor", "maxAccessor", "secondaryMetricAccessor", "breakdownByAccessor"} {
		add(vis[k])
	}
	layers, _ := vis["layers"].([]any)
	for _, l := range layers {
		lm, _ := l.(map[string]any)
		for _, k := range []string{"xAccessor", "splitAccessor", "accessors", "primaryGroups", "metrics"} {
			add(lm[k])
		}
	}
	return out
}

func TestKibanaObjectsReferencesResolve(t *testing.T) {
	objs := loadSavedObjects(t)
	have := map[string]bool{}
	for _, o := range objs {
		key := o.Type + "/" + o.ID
		if have[key] {
			t.Errorf("duplicate saved object %s", key)
		}
		have[key] = true
		if o.CoreMigrationVersion == "" || o.TypeMigrationVersion == "" {
			t.Errorf("%s has no coreMigrationVersion/typeMigrationVersion: Kibana would run every migration on it", key)
		}
		if !strings.HasPrefix(o.ID, "orderpipe-") {
			t.Errorf("%s: ids are stable and prefixed orderpipe-", key)
		}
	}
	for _, o := range objs {
		for _, r := range o.References {
			if !have[r.Type+"/"+r.ID] {
				t.Errorf("%s %s references %s %s (%s), which is not in the file", o.Type, o.ID, r.Type, r.ID, r.Name)
			}
		}
	}
}

func TestKibanaDataView(t *testing.T) {
	fields := templateFields(t)
	var found bool
	for _, o := range loadSavedObjects(t) {
		if o.Type != "index-pattern" {
			continue
		}
		found = true
		if o.ID != dataViewID || o.Attributes["title"] != contract.Index {
			t.Errorf("data view %s has title %v, want id %s and title %s", o.ID, o.Attributes["title"], dataViewID, contract.Index)
		}
		tf, _ := o.Attributes["timeFieldName"].(string)
		if tf != timeField || fields[tf].Type != "date" {
			t.Errorf("data view time field %q (mapped %q), want %s (date)", tf, fields[tf].Type, timeField)
		}
	}
	if !found {
		t.Fatal("no data view (index-pattern) object")
	}
}

// requiredPanels is what the "Orders — live" dashboard must show.
var requiredPanels = map[string]string{
	"date_histogram(created_at)|count":                 "orders over time",
	"date_histogram(created_at)|sum(total)":            "revenue over time",
	"avg(total)":                                       "average order value",
	"terms(status)|count":                              "orders by status (lifecycle)",
	"terms(items.category)|sum(items.line_total)":      "top categories by revenue",
	"terms(payment.method)|count":                      "payment methods",
	"terms(channel)|count":                             "orders by channel",
	"geotile_grid(shipping.location)|sum(total)|count": "revenue by location (map)",
	"search": "recent orders",
}

func TestKibanaDashboard(t *testing.T) {
	objs := loadSavedObjects(t)
	queries := panelQueries(t, objs)
	var dash *savedObject
	for i := range objs {
		if objs[i].Type == "dashboard" {
			if dash != nil {
				t.Fatal("more than one dashboard")
			}
			dash = &objs[i]
		}
	}
	if dash == nil {
		t.Fatal("no dashboard")
	}
	a := dash.Attributes
	if a["title"] != "Orders — live" {
		t.Errorf("dashboard title %q", a["title"])
	}
	if a["timeRestore"] != true || a["timeFrom"] != "now-24h" || a["timeTo"] != "now" {
		t.Errorf("dashboard time: restore=%v from=%v to=%v, want true now-24h now", a["timeRestore"], a["timeFrom"], a["timeTo"])
	}
	ri, _ := a["refreshInterval"].(map[string]any)
	if ri["pause"] != false || ri["value"] != float64(10000) {
		t.Errorf("dashboard refreshInterval %v, want running every 10s", ri)
	}
	panels, _ := jsonAttr(t, *dash, "panelsJSON").([]any)
	onDash := map[string]bool{}
	for _, p := range panels {
		pm := p.(map[string]any)
		idx, _ := pm["panelIndex"].(string)
		refName, _ := pm["panelRefName"].(string)
		id, ok := dash.ref(idx + ":" + refName)
		if !ok {
			t.Errorf("panel %s (%s) has no reference %s:%s", idx, pm["type"], idx, refName)
			continue
		}
		onDash[id] = true
		if _, ok := queries[id]; !ok {
			t.Errorf("panel %s shows %s, which is not a lens/map/search object in the file", idx, id)
		}
	}
	have := map[string]bool{}
	for id, q := range queries {
		if !onDash[id] {
			t.Errorf("%s (%s) is not on the dashboard", id, q.Title)
		}
		have[q.signature()] = true
	}
	for _, sig := range sortedKeys(requiredPanels) {
		if !have[sig] {
			var got []string
			for s := range have {
				got = append(got, s)
			}
			sort.Strings(got)
			t.Errorf("dashboard lacks %s (%s); panels are %v", requiredPanels[sig], sig, got)
		}
	}
}

// TestKibanaTimeChartsAgree: each time chart buckets on the data view's time
// field, and draws the bars its title promises over the dashboard's 24 h.
func TestKibanaTimeChartsAgree(t *testing.T) {
	const dashboardRange = 24 * time.Hour // TestKibanaDashboard checks now-24h
	for id, q := range panelQueries(t, loadSavedObjects(t)) {
		for _, b := range q.Buckets {
			if b.Op != "date_histogram" {
				continue
			}
			if b.Field != timeField {
				t.Errorf("%s (%s) buckets on %s, but the data view filters on %s", id, q.Title, b.Field, timeField)
			}
			perUnit := strings.Contains(strings.ToLower(q.Title), " per ")
			switch {
			case b.Interval == "" || b.Interval == "auto":
				if perUnit {
					t.Errorf("%s: title %q names a unit, but the interval is Kibana's choice (auto)", id, q.Title)
				}
			default:
				iv, err := time.ParseDuration(b.Interval)
				if err != nil {
					t.Errorf("%s: interval %q is not a fixed duration this test understands", id, b.Interval)
					continue
				}
				if bars := int(dashboardRange / iv); bars > kibanaMaxBars {
					t.Errorf("%s: a %s interval draws %d bars over %v; Kibana scales it up past %d, so %q would be wrong",
						id, b.Interval, bars, dashboardRange, kibanaMaxBars, q.Title)
				}
			}
		}
	}
}
