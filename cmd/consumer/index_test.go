package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/deploy"
	"github.com/orderpipe/orderpipe/internal/servicetest"
)

// TestIndexTheTemplateDoesNotGovernExitsTwo: a consumer pointed at an index
// its template does not govern stops at start with exit 2, naming ES_INDEX
// and ES_TEMPLATE_FILE, instead of letting Elasticsearch guess the mapping
// and dead-lettering valid orders that lose the race on the guessed types.
func TestIndexTheTemplateDoesNotGovernExitsTwo(t *testing.T) {
	brokers := servicetest.KafkaBrokers(t)
	url := servicetest.ElasticsearchURL(t)
	prefix := servicetest.Name(t, "gov")
	// The built-in template under this test's name and patterns, so that
	// the shared Elasticsearch's other indices are not touched.
	file := filepath.Join(t.TempDir(), "template.json")
	raw, _ := json.Marshal(servicetest.ScopedTemplate(t, deploy.OrdersTemplate, []string{prefix + "-orders*"}, nil))
	if err := os.WriteFile(file, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { servicetest.ES(t, url, http.MethodDelete, "/_index_template/"+prefix, nil) })

	tests := []struct {
		name   string
		index  string
		before func(t *testing.T, index string) // what exists before the consumer starts
		says   []string
	}{
		{"a name the template does not cover", "shop-" + prefix, func(*testing.T, string) {},
			[]string{"ES_INDEX", "ES_TEMPLATE_FILE", prefix + "-orders*", "would guess its mapping"}},
		{"an index made before the template, with guessed types", prefix + "-orders-old", func(t *testing.T, index string) {
			// Made while no template covers it, as by a consumer that ran
			// before the template was installed.
			servicetest.ES(t, url, http.MethodDelete, "/_index_template/"+prefix, nil)
			if code, b := servicetest.ES(t, url, http.MethodPost, "/"+index+"/_doc?refresh=true", `{"order_id":"o1","status":"paid"}`); code != http.StatusCreated {
				t.Fatalf("index a document into %s: %d %s", index, code, b)
			}
		}, []string{"ES_INDEX", "exists with a mapping", "status is text, not keyword"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Cleanup(func() { servicetest.ES(t, url, http.MethodDelete, "/"+tc.index, nil) })
			tc.before(t, tc.index)
			for k, v := range map[string]string{
				"KAFKA_BROKERS": strings.Join(brokers, ","), "KAFKA_TOPIC": prefix, "DLQ_TOPIC": prefix + ".dlq", "CONSUMER_GROUP": prefix,
				"ES_ADDRESSES": url, "ES_INDEX": tc.index, "ES_TEMPLATE_NAME": prefix, "ES_TEMPLATE_FILE": file,
				"OPS_ADDR": "127.0.0.1:0",
			} {
				t.Setenv(k, v)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			err := run(ctx, nil, io.Discard, io.Discard)
			var stderr bytes.Buffer
			if code := exitCode(err, &stderr); code != 2 {
				t.Fatalf("exit code %d (%v), want 2", code, err)
			}
			for _, want := range tc.says {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("message %q does not say %q", stderr.String(), want)
				}
			}
			if tc.index == "shop-"+prefix {
				if code, _ := servicetest.ES(t, url, http.MethodHead, "/"+tc.index, nil); code != http.StatusNotFound {
					t.Errorf("HEAD %s = %d, want 404: a refused index must not be created", tc.index, code)
				}
			}
		})
	}
}
