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
	"time"

	"github.com/elastic/go-elasticsearch/v8/typedapi/security/changepassword"
	"github.com/elastic/go-elasticsearch/v8/typedapi/security/putrole"
	"github.com/elastic/go-elasticsearch/v8/typedapi/security/putuser"

	"github.com/orderpipe/orderpipe/deploy"
	"github.com/orderpipe/orderpipe/internal/elastic"
)

// fakeES answers like a security-enabled Elasticsearch and records every
// request. The real test Elasticsearch runs with security off, so the user
// and role calls are proven against this recording instead.
func fakeES(t *testing.T) (*elastic.Client, func() []recorded) {
	t.Helper()
	var mu sync.Mutex
	var reqs []recorded
	exists := map[string]bool{} // role and user paths already PUT
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		raw, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(raw, &body)
		if err := strictBody(r.URL.Path, raw); err != nil {
			t.Errorf("%s %s: %v", r.Method, r.URL.Path, err)
			w.Header().Set("X-Elastic-Product", "Elasticsearch")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"error":{"type":"x_content_parse_exception","reason":%q}}`, err.Error())
			return
		}
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
	client, err := elastic.New(elastic.Config{Addresses: []string{srv.URL}, Username: "elastic", Password: "pw", Index: "orders", RequestTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return client, func() []recorded { mu.Lock(); defer mu.Unlock(); return append([]recorded(nil), reqs...) }
}

// strictBody stands in for the server's parser: it decodes a security
// request body into go-elasticsearch's typed request for that API (generated
// from the Elasticsearch specification) and encodes it again. A field the
// type does not know is dropped on the way, so the two differ, just as a
// real cluster would refuse the body with a parse error.
func strictBody(path string, raw []byte) error {
	var typed any
	switch {
	case strings.HasPrefix(path, "/_security/role/"):
		typed = putrole.NewRequest()
	case strings.HasPrefix(path, "/_security/user/") && strings.HasSuffix(path, "/_password"):
		typed = changepassword.NewRequest()
	case strings.HasPrefix(path, "/_security/user/"):
		typed = putuser.NewRequest()
	default:
		return nil
	}
	if err := json.Unmarshal(raw, typed); err != nil {
		return fmt.Errorf("decode into %T: %w", typed, err)
	}
	again, err := json.Marshal(typed)
	if err != nil {
		return err
	}
	var sent, kept any
	if err := json.Unmarshal(raw, &sent); err != nil {
		return err
	}
	if err := json.Unmarshal(again, &kept); err != nil {
		return err
	}
	if !reflect.DeepEqual(sent, kept) {
		return fmt.Errorf("body has fields the API does not know:\n sent %s\n  API %s", raw, again)
	}
	return nil
}

func TestStrictBodyRefusesUnknownFields(t *testing.T) {
	for _, tc := range []struct {
		path, body string
		ok         bool
	}{
		{"/_security/role/r", string(deploy.WriterRole), true},
		{"/_security/role/r", `{"cluster":["monitor"],"indexes":[{"names":["orders*"]}]}`, false},
		{"/_security/user/u", `{"password":"secret1","roles":["r"],"full_name":"x"}`, true},
		{"/_security/user/u", `{"password":"secret1","role":["r"]}`, false},
		{"/_security/user/u/_password", `{"password":"secret1"}`, true},
		{"/_security/user/u/_password", `{"new_password":"secret1"}`, false},
	} {
		t.Run(tc.path+" "+tc.body, func(t *testing.T) {
			if err := strictBody(tc.path, []byte(tc.body)); (err == nil) != tc.ok {
				t.Errorf("strictBody = %v, want ok=%t", err, tc.ok)
			}
		})
	}
}

func TestSetupSecurity(t *testing.T) {
	var role map[string]any
	if err := json.Unmarshal(deploy.WriterRole, &role); err != nil {
		t.Fatal(err)
	}
	var reader map[string]any
	if err := json.Unmarshal(deploy.ReaderRole, &reader); err != nil {
		t.Fatal(err)
	}
	userIn := func(role, name, pw string) map[string]any {
		return map[string]any{"password": pw, "roles": []any{role}, "full_name": "orderpipe " + name}
	}
	user := func(name, pw string) map[string]any { return userIn("orderpipe_writer", name, pw) }
	// Each case runs setup twice against one (stateful) fake: the second
	// run sends the same upserts and says "applied", not "created".
	for _, tc := range []struct {
		name                           string
		kibana, ls, consumr, dashboard string
		want                           []recorded
		first, second                  string
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
		{name: "dashboard only: the reader role, not the writer's", dashboard: "d", want: []recorded{
			{"PUT", "/_security/role/orderpipe_reader", "", reader},
			{"PUT", "/_security/user/orderpipe_dashboard", "", userIn("orderpipe_reader", "orderpipe_dashboard", "d")},
		}, first: "role orderpipe_reader: created\nuser orderpipe_dashboard: created\n", second: "role orderpipe_reader: applied\nuser orderpipe_dashboard: applied\n"},
		{name: "consumer only", consumr: "c", want: []recorded{
			{"PUT", "/_security/role/orderpipe_writer", "", role},
			{"PUT", "/_security/user/orderpipe_consumer", "", user("orderpipe_consumer", "c")},
		}, first: "role orderpipe_writer: created\nuser orderpipe_consumer: created\n", second: "role orderpipe_writer: applied\nuser orderpipe_consumer: applied\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, requests := fakeES(t)
			cfg := setupConfig{KibanaPassword: tc.kibana, LogstashPassword: tc.ls, ConsumerPassword: tc.consumr, DashboardPassword: tc.dashboard}
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
	client, err := elastic.New(elastic.Config{Addresses: []string{srv.URL}, Index: "orders", RequestTimeout: 10 * time.Second})
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
