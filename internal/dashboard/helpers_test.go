package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/deploy"
	"github.com/orderpipe/orderpipe/internal/elastic"
	"github.com/orderpipe/orderpipe/internal/generator"
	"github.com/orderpipe/orderpipe/internal/kafka"
	"github.com/orderpipe/orderpipe/internal/servicetest"
)

// esIndex is a test's own orders index on the real Elasticsearch, mapped by
// the real template (narrowed to its name), created on demand.
type esIndex struct {
	t    *testing.T
	base string
	name string
}

func newIndex(t *testing.T) *esIndex {
	t.Helper()
	ix := &esIndex{t: t, base: strings.TrimRight(servicetest.ElasticsearchURL(t), "/"), name: servicetest.Name(t, "orders-dash")}
	var tmpl map[string]any
	if err := json.Unmarshal(deploy.OrdersTemplate, &tmpl); err != nil {
		t.Fatal(err)
	}
	tmpl["index_patterns"] = []string{ix.name + "*"}
	tmpl["priority"] = 5000
	ix.do(http.MethodPut, "/_index_template/"+ix.name, tmpl, 200)
	t.Cleanup(func() {
		ix.do(http.MethodDelete, "/"+ix.name, nil, 200, 404)
		ix.do(http.MethodDelete, "/_index_template/"+ix.name, nil, 200, 404)
	})
	return ix
}

func (ix *esIndex) do(method, path string, body any, want ...int) []byte {
	ix.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, ix.base+path, rd)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		ix.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	for _, w := range want {
		if res.StatusCode == w {
			return raw
		}
	}
	ix.t.Fatalf("%s %s: HTTP %d, want %v: %s", method, path, res.StatusCode, want, raw)
	return nil
}

func (ix *esIndex) create() { ix.t.Helper(); ix.do(http.MethodPut, "/"+ix.name, nil, 200) }

// count is Elasticsearch's own _count of the index, optionally under query.
func (ix *esIndex) count(query any) int64 {
	ix.t.Helper()
	var body any
	if query != nil {
		body = map[string]any{"query": query}
	}
	var c struct {
		Count int64 `json:"count"`
	}
	if err := json.Unmarshal(ix.do(http.MethodPost, "/"+ix.name+"/_count", body, 200), &c); err != nil {
		ix.t.Fatal(err)
	}
	return c.Count
}

// load indexes n generated orders (each at its latest version) created at
// created, and makes them searchable; it returns how many it indexed.
func (ix *esIndex) load(n int, created time.Time) int {
	ix.t.Helper()
	cfg := generator.DefaultConfig()
	latest := map[string]generator.Event{}
	for _, ev := range servicetest.Orders(ix.t, cfg, n, created) {
		latest[ev.OrderID] = ev
	}
	docs := make([]elastic.Doc, 0, len(latest))
	for _, ev := range latest {
		docs = append(docs, elastic.Doc{ID: ev.OrderID, Version: ev.Version, Source: ev.Value})
	}
	out, err := ix.client(ix.base).Bulk(context.Background(), docs)
	if err != nil {
		ix.t.Fatalf("bulk: %v", err)
	}
	for _, o := range out {
		if o.Result != elastic.Indexed {
			ix.t.Fatalf("bulk item %v", o)
		}
	}
	ix.do(http.MethodPost, "/"+ix.name+"/_refresh", nil, 200)
	return len(docs)
}

// client reaches the test's index at addr.
func (ix *esIndex) client(addr string) *elastic.Client {
	ix.t.Helper()
	c, err := elastic.New(elastic.Config{Addresses: []string{addr}, Index: ix.name, RequestTimeout: 10 * time.Second})
	if err != nil {
		ix.t.Fatal(err)
	}
	return c
}

// start runs a dashboard on a free loopback port until the test ends.
func start(t *testing.T, o Options) *Server {
	t.Helper()
	o.Addr = "127.0.0.1:0"
	if o.Refresh == 0 {
		o.Refresh = time.Second
	}
	if o.Latest == 0 {
		o.Latest = 10
	}
	if o.Topic == "" {
		o.Topic, o.DLQTopic, o.Group = "orders", "orders.dlq", "orderpipe-consumer"
	}
	srv, err := Listen(o)
	if err != nil {
		t.Fatal(err)
	}
	servicetest.RunUntilCleanup(t, srv.Run)
	return srv
}

// getJSON GETs path from srv and decodes the answer into v; it returns the status.
func getJSON(t *testing.T, srv *Server, path string, v any) int {
	t.Helper()
	res, err := http.Get(strings.TrimSuffix(srv.URL(), "/") + path)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("GET %s: HTTP %d, not JSON: %v: %s", path, res.StatusCode, err, raw)
	}
	return res.StatusCode
}

// deadAddr is an http:// address nothing listens on.
func deadAddr(t *testing.T) string { t.Helper(); return "http://" + servicetest.FreeAddr(t) }

// kafkaAdmin is an Admin on the real broker.
func kafkaAdmin(t *testing.T) (*kafka.Admin, []string) {
	t.Helper()
	brokers := servicetest.KafkaBrokers(t)
	a, err := kafka.NewAdmin(kafka.Config{Brokers: brokers, ClientID: "dashboard-test"})
	if err != nil {
		t.Fatal(err)
	}
	return a, brokers
}
