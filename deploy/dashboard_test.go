package deploy

import (
	"fmt"
	"slices"
	"testing"

	"github.com/orderpipe/orderpipe/internal/orderstats"
)

// TestDashboardPageShowsKibanasPanels: the page of `orderctl dashboard`
// (internal/orderstats) asks exactly what the Kibana panel it stands for
// asks, and shows every panel of the dashboard but the map, whose money it
// shows by country (Kibana's own "Revenue by country").
func TestDashboardPageShowsKibanasPanels(t *testing.T) {
	const mapID = "orderpipe-map-revenue-by-location"
	queries := panelQueries(t, loadSavedObjects(t))
	shown := map[string]bool{}
	for _, p := range orderstats.Panels {
		if p.KibanaID == "" {
			continue
		}
		shown[p.KibanaID] = true
		q, ok := queries[p.KibanaID]
		if !ok {
			t.Errorf("page panel %s stands for %s, which is not in deploy/kibana", p.ID, p.KibanaID)
			continue
		}
		kp := q.panel()
		if p.Signature() != kp.Signature() {
			t.Errorf("page panel %s asks %s, Kibana's %s asks %s", p.ID, p.Signature(), q.ID, kp.Signature())
		}
		for i, b := range kp.Buckets {
			if i < len(p.Buckets) && b.Size != p.Buckets[i].Size {
				t.Errorf("page panel %s shows %d %s, Kibana %d", p.ID, p.Buckets[i].Size, b.Field, b.Size)
			}
		}
		// Terms ordered as Kibana orders them: by a sum, the page's
		// aggregation orders by its metric; by a count, by doc count.
		for i, b := range q.Buckets {
			if b.Op != "terms" {
				continue
			}
			terms := lookup(p.Aggs(orderstats.DefaultRange), fmt.Sprintf("b%d.terms", i)).(map[string]any)
			_, byMetric := terms["order"]
			if want := b.OrderBy != "" && b.OrderBy != "count"; byMetric != want {
				t.Errorf("page panel %s orders %s by its metric: %v; Kibana orders it by %q", p.ID, b.Field, byMetric, b.OrderBy)
			}
		}
	}
	rs, ok := queries[orderstats.Recent.KibanaID]
	if !ok || rs.Search == nil {
		t.Fatalf("no saved search %s", orderstats.Recent.KibanaID)
	}
	shown[rs.ID] = true
	if !slices.Equal(rs.Search.Columns, orderstats.Recent.Columns) || len(rs.Search.Sort) != 1 || rs.Search.Sort[0] != [2]string{orderstats.Recent.SortBy, "desc"} {
		t.Errorf("page's latest orders: columns %v by %s desc; Kibana's: %v by %v", orderstats.Recent.Columns, orderstats.Recent.SortBy, rs.Search.Columns, rs.Search.Sort)
	}
	for _, id := range sortedKeys(queries) {
		if !shown[id] && id != mapID {
			t.Errorf("Kibana's %s (%s) is not on the dashboard page", id, queries[id].Title)
		}
	}
	if _, ok := queries[mapID]; !ok {
		t.Errorf("the map %s this test excuses is gone: drop the excuse", mapID)
	}
}
