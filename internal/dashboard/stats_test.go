package dashboard

import (
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/internal/orderstats"
)

func sumCounts(rows []orderstats.Row) int64 {
	var n int64
	for _, r := range rows {
		n += r.Count
	}
	return n
}

// TestStatsRanges: orders created 1 min, 3 h and 3 days ago fall in the
// ranges that span them and no others; within a range the total is
// Elasticsearch's own _count, the status counts add up to it, and the
// latest orders carry the display columns and nothing else.
func TestStatsRanges(t *testing.T) {
	ix := newIndex(t)
	ix.create()
	now := time.Now()
	recent := ix.load(40, now.Add(-time.Minute))
	hours := ix.load(30, now.Add(-3*time.Hour))
	days := ix.load(20, now.Add(-72*time.Hour))
	srv := start(t, Options{ES: ix.client(ix.base)})

	for _, tc := range []struct {
		rng  string
		want int
	}{{"15m", recent}, {"1h", recent}, {"24h", recent + hours}, {"7d", recent + hours + days}} {
		t.Run(tc.rng, func(t *testing.T) {
			var res orderstats.Result
			if code := getJSON(t, srv, "/api/stats?range="+tc.rng, &res); code != http.StatusOK {
				t.Fatalf("HTTP %d", code)
			}
			rng, _ := orderstats.RangeNamed(tc.rng)
			if res.Total != int64(tc.want) || res.Total != ix.count(orderstats.RangeFilter(rng)) {
				t.Errorf("total %d, want %d (indexed) = Elasticsearch's _count %d", res.Total, tc.want, ix.count(orderstats.RangeFilter(rng)))
			}
			for _, id := range []string{"orders-by-status", "orders-by-channel", "payment-methods", "orders-over-time"} {
				if got := sumCounts(res.Panels[id]); got != res.Total {
					t.Errorf("%s adds up to %d, want the total %d", id, got, res.Total)
				}
			}
			if rev := res.Panels["revenue"]; len(rev) != 1 || rev[0].Values[0] <= 0 {
				t.Errorf("revenue %v, want one positive figure", rev)
			}
			if len(res.Latest) != 10 {
				t.Errorf("%d latest orders, want DASHBOARD_LATEST=10", len(res.Latest))
			}
			for _, o := range res.Latest {
				for k := range o {
					if !slices.ContainsFunc(orderstats.Recent.Columns, func(c string) bool { return c == k || strings.HasPrefix(c, k+".") }) {
						t.Errorf("latest order carries %q, not a display column", k)
					}
				}
				if _, ok := o["customer"].(map[string]any)["email"]; ok {
					t.Error("latest order carries the customer's e-mail")
				}
			}
		})
	}
	var p Problem
	if code := getJSON(t, srv, "/api/stats?range=2y", &p); code != http.StatusBadRequest || p.State != "bad_request" || !strings.Contains(p.Error, "2y") {
		t.Errorf("range=2y: HTTP %d %+v, want 400 naming it", code, p)
	}
}

// TestStatsEmptyIndex: an index without orders is zeros, not an error.
func TestStatsEmptyIndex(t *testing.T) {
	ix := newIndex(t)
	ix.create()
	srv := start(t, Options{ES: ix.client(ix.base)})
	var res orderstats.Result
	if code := getJSON(t, srv, "/api/stats?range=1h", &res); code != http.StatusOK {
		t.Fatalf("HTTP %d, want 200", code)
	}
	if res.Total != 0 || len(res.Latest) != 0 {
		t.Errorf("total %d, %d latest, want 0 and none", res.Total, len(res.Latest))
	}
	for _, id := range []string{"revenue", "average-order-value"} {
		if rows := res.Panels[id]; len(rows) != 1 || rows[0].Values[0] != 0 {
			t.Errorf("%s = %v, want one zero", id, rows)
		}
	}
	if n := len(res.Panels["orders-over-time"]); n < 60 {
		t.Errorf("orders over the last hour in %d buckets, want the whole hour in 1-minute buckets, empty ones too", n)
	}
}

// TestStatsMissingIndexRecovers: no index yet is a clear 503, and the same
// server answers with figures once the index exists.
func TestStatsMissingIndexRecovers(t *testing.T) {
	ix := newIndex(t)
	srv := start(t, Options{ES: ix.client(ix.base)})
	var p Problem
	if code := getJSON(t, srv, "/api/stats", &p); code != http.StatusServiceUnavailable || p.State != "index_missing" || !strings.Contains(p.Error, ix.name) {
		t.Fatalf("HTTP %d %+v, want 503 index_missing naming %s", code, p, ix.name)
	}
	n := ix.load(5, time.Now())
	var res orderstats.Result
	if code := getJSON(t, srv, "/api/stats", &res); code != http.StatusOK || res.Total != int64(n) {
		t.Fatalf("after indexing: HTTP %d, total %d, want 200 and %d", code, res.Total, n)
	}
}

// TestStatsElasticsearchDown: an address nothing listens on is a 503 that
// says Elasticsearch does not answer and names the setting; the page
// itself still loads; once Elasticsearch answers there (a proxy to the real
// one), the same server gives figures again.
func TestStatsElasticsearchDown(t *testing.T) {
	ix := newIndex(t)
	n := ix.load(3, time.Now())
	down := deadAddr(t)
	srv := start(t, Options{ES: ix.client(down)})
	var p Problem
	if code := getJSON(t, srv, "/api/stats?range=15m", &p); code != http.StatusServiceUnavailable || p.State != "elasticsearch_down" || !strings.Contains(p.Error, "ES_ADDRESSES") {
		t.Fatalf("HTTP %d %+v, want 503 elasticsearch_down naming ES_ADDRESSES", code, p)
	}

	ln, err := net.Listen("tcp", strings.TrimPrefix(down, "http://"))
	if err != nil {
		t.Fatalf("bring Elasticsearch up at %s: %v", down, err)
	}
	target, _ := url.Parse(ix.base)
	proxy := &http.Server{Handler: httputil.NewSingleHostReverseProxy(target), ReadHeaderTimeout: 5 * time.Second}
	go proxy.Serve(ln)
	t.Cleanup(func() { proxy.Close() })
	var res orderstats.Result
	if code := getJSON(t, srv, "/api/stats?range=15m", &res); code != http.StatusOK || res.Total != int64(n) {
		t.Fatalf("Elasticsearch back: HTTP %d, total %d; want 200 and %d", code, res.Total, n)
	}
	page, err := http.Get(srv.URL())
	if err != nil || page.StatusCode != http.StatusOK {
		t.Fatalf("page: %v %v", page, err)
	}
	page.Body.Close()
	if csp := page.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self'") || !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("page CSP %q does not keep it to its own server", csp)
	}
}
