package elastic

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/deploy"
	"github.com/orderpipe/orderpipe/internal/servicetest"
	"github.com/orderpipe/orderpipe/internal/settings"
)

func TestParseTemplate(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		patterns []string
		err      string // part of the error; "" = valid
	}{
		{"built-in", string(deploy.OrdersTemplate), []string{"orders*"}, ""},
		{"one pattern as a string", `{"index_patterns":"shop*","template":{"mappings":{"dynamic":"strict","properties":{}}}}`, []string{"shop*"}, ""},
		{"not JSON", `{"index_patterns":`, nil, "is not JSON"},
		{"no patterns", `{"template":{"mappings":{"dynamic":"strict"}}}`, nil, "no index_patterns"},
		{"empty patterns", `{"index_patterns":[],"template":{"mappings":{"dynamic":"strict"}}}`, nil, "no index_patterns"},
		{"no mappings", `{"index_patterns":["a*"],"template":{"settings":{}}}`, nil, "no template.mappings"},
		{"dynamic by default", `{"index_patterns":["a*"],"template":{"mappings":{"properties":{}}}}`, nil, `"dynamic": "true"`},
		{"dynamic false", `{"index_patterns":["a*"],"template":{"mappings":{"dynamic":false}}}`, nil, `"dynamic": "false"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, err := ParseTemplate("t", []byte(tc.body))
			if tc.err == "" {
				if err != nil || strings.Join(tmpl.Patterns, ",") != strings.Join(tc.patterns, ",") {
					t.Fatalf("ParseTemplate = %v, %v; want patterns %v", tmpl.Patterns, err, tc.patterns)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "ES_TEMPLATE_FILE") || !errors.Is(err, settings.ErrInvalid) {
				t.Fatalf("ParseTemplate error %v, want one naming ES_TEMPLATE_FILE that says %q and is a setting error", err, tc.err)
			}
		})
	}
}

func TestTemplateCovers(t *testing.T) {
	tmpl := Template{Patterns: []string{"orders*", "audit-?-log", "*-sales-*-eu", "exact"}}
	tests := []struct {
		index string
		want  bool
	}{
		{"orders", true}, {"orders-2026", true}, {"shop-orders", false}, {"order", false},
		{"audit-?-log", true}, {"audit-x-log", false}, // ? is no wildcard to Elasticsearch
		{"shop-sales-2026-eu", true}, {"-sales--eu", true}, {"shop-sales-eu", false}, {"shop-sales-2026-eu-x", false},
		{"exact", true}, {"exactly", false},
	}
	for _, tc := range tests {
		if got := tmpl.Covers(tc.index); got != tc.want {
			t.Errorf("Covers(%q) = %v, want %v", tc.index, got, tc.want)
		}
	}
}

func TestMappingProblems(t *testing.T) {
	tmpl, err := ParseTemplate("orders", deploy.OrdersTemplate)
	if err != nil {
		t.Fatal(err)
	}
	// What the template gives an index, as a mapping of its own.
	same := clone(t, tmpl.Mappings)
	tests := []struct {
		name   string
		edit   func(m map[string]any)
		wanted []string // each problem must be listed; none: no problem at all
	}{
		{"the template's own mapping", func(map[string]any) {}, nil},
		{"an extra field", func(m map[string]any) { props(m)["note"] = map[string]any{"type": "text"} }, nil},
		{"dynamic", func(m map[string]any) { m["dynamic"] = "true" }, []string{`"dynamic" is "true"`}},
		{"no dynamic", func(m map[string]any) { delete(m, "dynamic") }, []string{`"dynamic" is "true"`}},
		{"status guessed as text", func(m map[string]any) { props(m)["status"] = map[string]any{"type": "text"} }, []string{"status is text, not keyword"}},
		{"location as an object", func(m map[string]any) {
			props(props(m)["shipping"].(map[string]any))["location"] = map[string]any{"properties": map[string]any{"lat": map[string]any{"type": "float"}}}
		}, []string{"shipping.location is object, not geo_point"}},
		{"a field missing", func(m map[string]any) { delete(props(m), "channel") }, []string{"channel is not mapped"}},
		{"a multi-field missing", func(m map[string]any) {
			delete(props(props(m)["customer"].(map[string]any))["name"].(map[string]any), "fields")
		}, []string{"customer.name.keyword is not mapped"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := clone(t, same)
			tc.edit(m)
			got := tmpl.MappingProblems(m)
			if len(tc.wanted) == 0 && len(got) > 0 {
				t.Fatalf("problems %q, want none", got)
			}
			for _, w := range tc.wanted {
				if !strings.Contains(strings.Join(got, "\n"), w) {
					t.Errorf("problems %q lack %q", got, w)
				}
			}
		})
	}
}

func props(m map[string]any) map[string]any { return m["properties"].(map[string]any) }

func clone(t *testing.T, m map[string]any) map[string]any {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestOrderIndexRuleOnRealElasticsearch holds the three cases of the rule
// against the real server: a name the template does not cover, an index
// made beforehand with a guessed mapping, and an index the template makes.
func TestOrderIndexRuleOnRealElasticsearch(t *testing.T) {
	url := servicetest.ElasticsearchURL(t)
	prefix := servicetest.Name(t, "rule")
	// The built-in template, scoped to this test's names so that parallel
	// packages' indices are not affected.
	raw, _ := json.Marshal(servicetest.ScopedTemplate(t, deploy.OrdersTemplate, []string{prefix + "-orders*"}, nil))
	tmpl, err := ParseTemplate(prefix, raw)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	client := func(index string) *Client {
		t.Helper()
		c, err := New(Config{Addresses: []string{url}, Index: index, RequestTimeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rawES(t, url, http.MethodDelete, "/"+index, "") })
		return c
	}
	if err := client(prefix+"-orders").EnsureTemplate(ctx, prefix, raw, log); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rawES(t, url, http.MethodDelete, "/_index_template/"+prefix, "") })

	t.Run("name the template does not cover", func(t *testing.T) {
		index := "shop-" + prefix
		c := client(index)
		_, err := c.EnsureOrderIndex(ctx, tmpl, log)
		var ue *UngovernedError
		if !errors.As(err, &ue) || ue.Exists || !errors.Is(err, settings.ErrInvalid) {
			t.Fatalf("EnsureOrderIndex(%s) = %v, want an *UngovernedError for a missing index", index, err)
		}
		for _, want := range []string{"ES_INDEX", "ES_TEMPLATE_FILE", prefix + "-orders*", index} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("message %q does not name %s", err, want)
			}
		}
		if code, _ := rawES(t, url, http.MethodHead, "/"+index, ""); code != http.StatusNotFound {
			t.Errorf("HEAD %s = %d: a refused index must not be created", index, code)
		}
	})

	t.Run("index made beforehand with a guessed mapping", func(t *testing.T) {
		// A name outside the template, so Elasticsearch guesses every
		// field, as it did for a consumer that ran before this rule.
		index := prefix + "-guessed"
		c := client(index)
		if code, b := rawES(t, url, http.MethodPost, "/"+index+"/_doc?refresh=true", `{"order_id":"o1","status":"paid","shipping":{"location":{"lat":1.5,"lon":2.5}}}`); code != http.StatusCreated {
			t.Fatalf("index a document: %d %s", code, b)
		}
		_, err := c.EnsureOrderIndex(ctx, tmpl, log)
		var ue *UngovernedError
		if !errors.As(err, &ue) || !ue.Exists {
			t.Fatalf("EnsureOrderIndex = %v, want an *UngovernedError for an existing index", err)
		}
		for _, want := range []string{`"dynamic" is "true"`, "status is text, not keyword", "shipping.location is object, not geo_point", "ES_INDEX"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("message %q lacks %q", err, want)
			}
		}
		if !strings.Contains(strings.Join(ue.Problems, "\n"), "channel is not mapped") {
			t.Errorf("problems %q do not list the template's fields the index lacks", ue.Problems)
		}
		if exists, err := c.CheckOrderIndex(ctx, tmpl); !exists || !errors.As(err, &ue) {
			t.Errorf("CheckOrderIndex = %v, %v; want exists and refused", exists, err)
		}
	})

	t.Run("index the template makes", func(t *testing.T) {
		index := prefix + "-orders"
		c := client(index)
		if exists, err := c.CheckOrderIndex(ctx, tmpl); exists || err != nil {
			t.Fatalf("CheckOrderIndex before = %v, %v; want missing and allowed", exists, err)
		}
		created, err := c.EnsureOrderIndex(ctx, tmpl, log)
		if err != nil || !created {
			t.Fatalf("EnsureOrderIndex = %v, %v; want created", created, err)
		}
		if created, err := c.EnsureOrderIndex(ctx, tmpl, log); err != nil || created {
			t.Fatalf("second EnsureOrderIndex = %v, %v; want it to find the index as it is", created, err)
		}
		_, b := rawES(t, url, http.MethodGet, "/"+index+"/_mapping", "")
		if !strings.Contains(b, `"dynamic":"strict"`) || !strings.Contains(b, `"geo_point"`) {
			t.Errorf("mapping of %s is not the template's: %s", index, b)
		}
	})
}

func rawES(t *testing.T, url, method, path, body string) (int, string) {
	t.Helper()
	code, b := servicetest.ES(t, url, method, path, body)
	return code, string(b)
}
