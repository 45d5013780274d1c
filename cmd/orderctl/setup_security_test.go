package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	es "github.com/elastic/go-elasticsearch/v8"

	"github.com/orderpipe/orderpipe/internal/elastic"
)

// fakeES answers like a security-enabled Elasticsearch and records every
// request. The real test Elasticsearch runs with security off, so the user
// and role calls are proven against this recording instead.
func fakeES(t *testing.T) (*es.Client, func() []recorded) {
	t.Helper()
	var mu sync.Mutex
	var reqs []recorded
	exists := map[string]bool{} // role and user paths already PUT
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		reqs = append(reqs, recorded{Method: r.Method, Path: r.URL.Path, Auth: r.Header.Get("Authorization"), Body: body})
		created := !exists[r.URL.Path]
		exists[r.URL.Path] = true
		mu.Unlock()
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasPrefix(r.URL.Path, "/_security/role/"):
			fmt.Fprintf(w, `{"role":{"created":%t}}`, created)
		case strings.HasPrefix(r.URL.Path, "/_security/user/") && strings.HasSuffix(r.URL.Path, "/_password"):
			io.WriteString(w, `{}`)
		case strings.HasPrefix(r.URL.Path, "/_security/user/"):
			fmt.Fprintf(w, `{"created":%t}`, created)
		default:
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{}`)
		}
	}))
	t.Cleanup(srv.Close)
	client, err := es.NewClient(es.Config{Addresses: []string{srv.URL}, Username: "elastic", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	return client, func() []recorded { mu.Lock(); defer mu.Unlock(); return append([]recorded(nil), reqs...) }
}

func TestSetupSecurity(t *testing.T) {
	role := map[string]any{
		"cluster": []any{"monitor"},
		"indices": []any{map[string]any{"names": []any{"orders*"}, "privileges": []any{"write", "create_index", "manage", "view_index_metadata"}}},
	}
	user := func(name, pw string) map[string]any {
		return map[string]any{"password": pw, "roles": []any{"orderpipe_writer"}, "full_name": "orderpipe " + name}
	}
	// Each case runs setup twice against one (stateful) fake: the second
	// run sends the same upserts and says "applied", not "created".
	for _, tc := range []struct {
		name                string
		kibana, ls, consumr string
		want                []recorded
		first, second       string
	}{
		{name: "nothing set", first: "security: skipped (no passwords set)\n", second: "security: skipped (no passwords set)\n"},
		{name: "kibana only", kibana: "k", want: []recorded{
			{"PUT", "/_security/user/kibana_system/_password", "", map[string]any{"password": "k"}},
		}, first: "user kibana_system: password applied\n", second: "user kibana_system: password applied\n"},
		{name: "all", kibana: "k", ls: "l", consumr: "c", want: []recorded{
			{"PUT", "/_security/user/kibana_system/_password", "", map[string]any{"password": "k"}},
			{"PUT", "/_security/role/orderpipe_writer", "", role},
			{"PUT", "/_security/user/logstash_writer", "", user("logstash_writer", "l")},
			{"PUT", "/_security/user/orderpipe_consumer", "", user("orderpipe_consumer", "c")},
		},
			first:  "user kibana_system: password applied\nrole orderpipe_writer: created\nuser logstash_writer: created\nuser orderpipe_consumer: created\n",
			second: "user kibana_system: password applied\nrole orderpipe_writer: applied\nuser logstash_writer: applied\nuser orderpipe_consumer: applied\n"},
		{name: "consumer only", consumr: "c", want: []recorded{
			{"PUT", "/_security/role/orderpipe_writer", "", role},
			{"PUT", "/_security/user/orderpipe_consumer", "", user("orderpipe_consumer", "c")},
		}, first: "role orderpipe_writer: created\nuser orderpipe_consumer: created\n", second: "role orderpipe_writer: applied\nuser orderpipe_consumer: applied\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, requests := fakeES(t)
			cfg := setupConfig{KibanaPassword: tc.kibana, LogstashPassword: tc.ls, ConsumerPassword: tc.consumr}
			cfg.Index = "orders"
			for run, want := range []string{tc.first, tc.second} {
				var out strings.Builder
				if err := setupSecurity(context.Background(), client, cfg, &out); err != nil {
					t.Fatal(err)
				}
				if out.String() != want {
					t.Errorf("run %d printed %q, want %q", run+1, out.String(), want)
				}
			}
			got := requests()
			for i := range got {
				if got[i].Auth != "Basic ZWxhc3RpYzpwdw==" { // elastic:pw
					t.Errorf("request %d sent Authorization %q", i, got[i].Auth)
				}
				got[i].Auth = ""
			}
			if want := append(slices.Clone(tc.want), tc.want...); !reflect.DeepEqual(got, want) && len(got)+len(want) > 0 {
				t.Errorf("requests of two runs\n%+v\nwant the same upserts twice\n%+v", got, want)
			}
		})
	}
}

// TestSetupSecurityRefused: Elasticsearch's refusal comes back as the one
// status error type the rest of orderpipe matches on.
func TestSetupSecurityRefused(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `{"error":"action [cluster:admin/xpack/security/role/put] is unauthorized"}`)
	}))
	defer srv.Close()
	client, err := es.NewClient(es.Config{Addresses: []string{srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := setupConfig{ConsumerPassword: "c"}
	cfg.Index = "orders"
	err = setupSecurity(context.Background(), client, cfg, io.Discard)
	var se *elastic.StatusError
	if !errors.As(err, &se) || se.Status != http.StatusForbidden || !strings.Contains(se.Body, "unauthorized") || !errors.Is(err, elastic.ErrForbidden) {
		t.Fatalf("setupSecurity = %v, want a wrapped *elastic.StatusError 403 matching elastic.ErrForbidden", err)
	}
}
