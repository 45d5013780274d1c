package elastic

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/internal/settings/settingstest"
)

func validConfig() Config {
	return Config{Addresses: []string{"http://localhost:9200"}, Index: "orders", RequestTimeout: time.Second}
}

func TestConfigValidateNamesVariable(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string // variable; "" = valid
	}{
		{"valid", func(*Config) {}, ""},
		{"no address", func(c *Config) { c.Addresses = nil }, "ES_ADDRESSES"},
		{"not a url", func(c *Config) { c.Addresses = []string{"localhost:9200"} }, "ES_ADDRESSES"},
		{"api key and user", func(c *Config) { c.APIKey, c.Username = "k", "u" }, "ES_API_KEY"},
		{"password without user", func(c *Config) { c.Password = "p" }, "ES_USERNAME"},
		{"missing CA", func(c *Config) { c.CACert = "/nonexistent/ca.pem" }, "ES_CA_CERT"},
		{"upper-case index", func(c *Config) { c.Index = "Orders" }, "ES_INDEX"},
		{"index with star", func(c *Config) { c.Index = "orders*" }, "ES_INDEX"},
		{"zero timeout", func(c *Config) { c.RequestTimeout = 0 }, "ES_REQUEST_TIMEOUT"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.mutate(&c)
			settingstest.AssertNamesVariable(t, c.Validate(), tc.want)
		})
	}
}

func TestAppendBulkBody(t *testing.T) {
	docs := []Doc{
		{ID: "a", Version: 2, Source: []byte(`{"order_id":"a","version":2}`)},
		{ID: `b"q`, Version: 1, Source: []byte("{\n  \"order_id\": \"b\",\n  \"note\": \"x y\"\n}\n")},
	}
	got := string(AppendBulkBody(nil, "orders", docs))
	want := `{"index":{"_index":"orders","_id":"a","version":2,"version_type":"external"}}` + "\n" +
		`{"order_id":"a","version":2}` + "\n" +
		`{"index":{"_index":"orders","_id":"b\"q","version":1,"version_type":"external"}}` + "\n" +
		`{"order_id":"b","note":"x y"}` + "\n"
	if got != want {
		t.Fatalf("body:\n%s\nwant:\n%s", got, want)
	}
	for i, line := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("line %d is not JSON: %s", i, line)
		}
	}
}

func TestDecodeBulkResponse(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    []Result
		wantErr bool
	}{
		{"all indexed", `{"errors":false,"items":[{"index":{"status":201}},{"index":{"status":200}}]}`, []Result{Indexed, Indexed}, false},
		{"429 inside a 200", `{"errors":true,"items":[{"index":{"status":201}},{"index":{"status":429,"error":{"type":"es_rejected_execution_exception","reason":"rejected"}}}]}`, []Result{Indexed, Retry}, false},
		{"409 is handled", `{"errors":true,"items":[{"index":{"status":409,"error":{"type":"version_conflict_engine_exception","reason":"current version [4] is higher"}}}]}`, []Result{Conflict}, false},
		{"400 is rejected", `{"errors":true,"items":[{"index":{"status":400,"error":{"type":"document_parsing_exception","reason":"failed to parse","caused_by":{"type":"illegal_argument_exception","reason":"bad lat"}}}}]}`, []Result{Rejected}, false},
		{"5xx retries", `{"errors":true,"items":[{"index":{"status":503,"error":{"type":"unavailable_shards_exception","reason":"primary shard is not active"}}}]}`, []Result{Retry}, false},
		{"403 block retries", `{"errors":true,"items":[{"index":{"status":403,"error":{"type":"cluster_block_exception","reason":"read-only"}}}]}`, []Result{Retry}, false},
		{"mapping error is rejected", `{"errors":true,"items":[{"index":{"status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [total]"}}}]}`, []Result{Rejected}, false},
		{"strict mapping is rejected", `{"errors":true,"items":[{"index":{"status":400,"error":{"type":"strict_dynamic_mapping_exception","reason":"mapping set to strict, dynamic introduction of [coupon] within [_doc] is not allowed"}}}]}`, []Result{Rejected}, false},
		{"illegal argument is rejected", `{"errors":true,"items":[{"index":{"status":400,"error":{"type":"illegal_argument_exception","reason":"Limit of total fields [1000] has been exceeded"}}}]}`, []Result{Rejected}, false},
		{"closed index retries", `{"errors":true,"items":[{"index":{"status":400,"error":{"type":"index_closed_exception","reason":"closed"}}}]}`, []Result{Retry}, false},
		{"missing index retries", `{"errors":true,"items":[{"index":{"status":404,"error":{"type":"index_not_found_exception","reason":"no such index [orders] and [action.auto_create_index] is [false]"}}}]}`, []Result{Retry}, false},
		{"429 block retries", `{"errors":true,"items":[{"index":{"status":429,"error":{"type":"cluster_block_exception","reason":"index [orders] blocked by: [TOO_MANY_REQUESTS/12/disk usage exceeded flood-stage watermark]"}}}]}`, []Result{Retry}, false},
		{"400 block retries", `{"errors":true,"items":[{"index":{"status":400,"error":{"type":"cluster_block_exception","reason":"blocked"}}}]}`, []Result{Retry}, false},
		{"unknown 4xx type retries", `{"errors":true,"items":[{"index":{"status":400,"error":{"type":"invalid_index_name_exception","reason":"bad name"}}}]}`, []Result{Retry}, false},
		{"4xx without an error retries", `{"errors":true,"items":[{"index":{"status":400}}]}`, []Result{Retry}, false},
		{"count mismatch", `{"errors":false,"items":[{"index":{"status":201}}]}`, nil, true},
		{"not json", `<html>`, nil, true},
		{"two actions in one item", `{"items":[{"index":{"status":201},"create":{"status":201}},{"index":{"status":201}}]}`, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeBulkResponse([]byte(tc.body), max(len(tc.want), 2*boolInt(tc.wantErr)))
			if tc.wantErr {
				if err == nil {
					t.Fatalf("DecodeBulkResponse = %v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i, o := range got {
				if o.Result != tc.want[i] {
					t.Errorf("item %d: %v (%d %s), want %v", i, o.Result, o.Status, o.Reason, tc.want[i])
				}
				if o.Result != Indexed && o.Reason == "" {
					t.Errorf("item %d: no reason", i)
				}
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestRejectedReasonCarriesCause(t *testing.T) {
	got, err := DecodeBulkResponse([]byte(`{"items":[{"index":{"status":400,"error":{"type":"document_parsing_exception","reason":"[1:2] failed to parse field [x]","caused_by":{"type":"number_format_exception","reason":"For input string: \"abc\""}}}}]}`), 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"document_parsing_exception", "failed to parse field [x]", "number_format_exception"} {
		if !strings.Contains(got[0].Reason, want) {
			t.Errorf("reason %q lacks %q", got[0].Reason, want)
		}
	}
}

func FuzzDecodeBulkResponse(f *testing.F) {
	f.Add([]byte(`{"errors":true,"items":[{"index":{"status":429,"error":{"type":"x","reason":"y"}}}]}`), 1)
	f.Add([]byte(`{"items":[{"index":{"status":201}},{"index":{}}]}`), 2)
	f.Add([]byte(`{"items":[{"index":{"status":400,"error":{"caused_by":{"caused_by":null}}}}]}`), 1)
	f.Add([]byte(`null`), 0)
	f.Fuzz(func(t *testing.T, data []byte, want int) {
		if want < 0 || want > 1000 {
			return
		}
		out, err := DecodeBulkResponse(data, want)
		if err == nil && len(out) != want {
			t.Fatalf("%d outcomes for %d documents", len(out), want)
		}
	})
}
