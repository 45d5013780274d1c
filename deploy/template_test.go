package deploy

import (
	"encoding/json"
	"slices"
	"testing"
)

// orderFields is every field of the order document with its intended type.
// "object" rows are containers; all others are leaves.
var orderFields = []struct {
	field string
	typ   string
}{
	{"order_id", "keyword"},
	{"version", "integer"},
	{"status", "keyword"},
	{"created_at", "date"},
	{"updated_at", "date"},
	{"customer.id", "keyword"},
	{"customer.name", "text"},
	{"customer.name.keyword", "keyword"},
	{"customer.email", "keyword"},
	{"customer.segment", "keyword"},
	{"channel", "keyword"},
	{"items.sku", "keyword"},
	{"items.name", "text"},
	{"items.name.keyword", "keyword"},
	{"items.category", "keyword"},
	{"items.unit_price", "double"},
	{"items.quantity", "integer"},
	{"items.line_total", "double"},
	{"item_count", "integer"},
	{"currency", "keyword"},
	{"subtotal", "double"},
	{"discount", "double"},
	{"tax", "double"},
	{"shipping_cost", "double"},
	{"total", "double"},
	{"payment.method", "keyword"},
	{"shipping.city", "text"},
	{"shipping.city.keyword", "keyword"},
	{"shipping.state", "keyword"},
	{"shipping.country", "text"},
	{"shipping.country.keyword", "keyword"},
	{"shipping.country_code", "keyword"},
	{"shipping.postal_code", "keyword"},
	{"shipping.location", "geo_point"},
}

func TestTemplateMapsEveryOrderField(t *testing.T) {
	fields := templateFields(t)
	want := map[string]bool{}
	for _, tc := range orderFields {
		want[tc.field] = true
		t.Run(tc.field, func(t *testing.T) {
			got, ok := fields[tc.field]
			if !ok {
				t.Fatalf("%s is not mapped", tc.field)
			}
			if got.Type != tc.typ {
				t.Fatalf("%s is mapped as %q, want %q", tc.field, got.Type, tc.typ)
			}
			if got.Type == "scaled_float" && got.ScalingFactor != 100 {
				t.Errorf("%s: scaling_factor %v, want 100 (money has 2 decimals)", tc.field, got.ScalingFactor)
			}
		})
	}
	for _, f := range sortedKeys(fields) {
		if !want[f] {
			t.Errorf("template maps %s, which is not a field of the order document", f)
		}
	}
}

func TestTemplateSettings(t *testing.T) {
	tb := loadTemplate(t)
	if !slices.Equal(tb.IndexPatterns, []string{"orders*"}) {
		t.Errorf("index_patterns = %v, want [orders*]", tb.IndexPatterns)
	}
	if tb.Priority <= 100 {
		// Built-in templates use priority 100 and below.
		t.Errorf("priority = %d, want > 100 so no built-in template can shadow it", tb.Priority)
	}
	if tb.Template.Mappings.Dynamic != "strict" {
		t.Errorf(`mappings.dynamic = %v, want "strict"`, tb.Template.Mappings.Dynamic)
	}
	s := tb.Template.Settings
	// auto_expand_replicas gives the index a replica once a second data
	// node is there (docker-compose.cluster.yml) and none on one node,
	// where a replica could never be assigned and the index would stay
	// yellow.
	for key, want := range map[string]any{"number_of_shards": float64(1), "auto_expand_replicas": "0-1", "refresh_interval": "1s"} {
		if s[key] != want {
			t.Errorf("settings.%s = %v, want %v", key, s[key], want)
		}
	}
	// A fixed count beside it would only mislead: Elasticsearch
	// overrides it with the expanded one.
	if n, ok := s["number_of_replicas"]; ok {
		t.Errorf("settings.number_of_replicas = %v beside auto_expand_replicas", n)
	}
	// items must stay a plain object array: Kibana terms aggregations on
	// items.category do not work on nested fields.
	if typ := tb.Template.Mappings.Properties["items"]["type"]; typ == "nested" {
		t.Error("items must not be nested")
	}
}

// TestReaderRoleOnlyReads: the dashboard's role grants read on the orders
// and nothing else, no cluster privilege and no other index.
func TestReaderRoleOnlyReads(t *testing.T) {
	var role struct {
		Cluster []string `json:"cluster"`
		Indices []struct {
			Names      []string `json:"names"`
			Privileges []string `json:"privileges"`
		} `json:"indices"`
	}
	if err := json.Unmarshal(ReaderRole, &role); err != nil {
		t.Fatal(err)
	}
	if len(role.Cluster) != 0 || len(role.Indices) != 1 ||
		!slices.Equal(role.Indices[0].Names, []string{contract.Index + "*"}) || !slices.Equal(role.Indices[0].Privileges, []string{"read"}) {
		t.Errorf("%s grants %+v, want read on %s* only", ReaderRoleName, role, contract.Index)
	}
}
