package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/typedapi/security/changepassword"
	"github.com/elastic/go-elasticsearch/v8/typedapi/security/putrole"
	"github.com/elastic/go-elasticsearch/v8/typedapi/security/putuser"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/orderpipe/orderpipe/deploy"
	"github.com/orderpipe/orderpipe/internal/elastic"
	"github.com/orderpipe/orderpipe/internal/kafka"
	"github.com/orderpipe/orderpipe/internal/servicetest"
	"github.com/orderpipe/orderpipe/internal/settings"
)

// privateTemplate writes the orders template with patterns and priority of
// this test's own, so it cannot collide with "orders*" templates that other
// packages install in the shared Elasticsearch.
func privateTemplate(t *testing.T, index string, edit func(map[string]any)) string {
	t.Helper()
	var tmpl map[string]any
	if err := json.Unmarshal(deploy.OrdersTemplate, &tmpl); err != nil {
		t.Fatal(err)
	}
	tmpl["index_patterns"] = []string{index + "*"}
	tmpl["priority"] = 100000 + rand.IntN(1000000)
	if edit != nil {
		edit(tmpl)
	}
	data, _ := json.Marshal(tmpl)
	file := filepath.Join(t.TempDir(), "template.json")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// topicState is what a second setup must leave alone: partitions and config.
func topicState(t *testing.T, brokers []string, topic string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := kafka.Config{Brokers: brokers}.Client()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.DescribeConfigs(ctx, &kafkago.DescribeConfigsRequest{Resources: []kafkago.DescribeConfigRequestResource{{
		ResourceType: kafkago.ResourceTypeTopic, ResourceName: topic,
	}}})
	if err != nil || len(resp.Resources) != 1 || resp.Resources[0].Error != nil {
		t.Fatalf("describe %s: %v %+v", topic, err, resp)
	}
	// A fresh client each time: kafka-go's shared default transport caches
	// metadata and may not know a topic created a moment ago.
	parts, err := kafka.Offsets(ctx, kafka.Config{Brokers: brokers}, topic)
	if err != nil {
		t.Fatalf("read partitions of %s: %v", topic, err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "partitions=%d\n", len(parts))
	for _, e := range resp.Resources[0].ConfigEntries {
		fmt.Fprintf(&b, "%s=%s\n", e.ConfigName, e.ConfigValue)
	}
	return b.String()
}

func TestSetupTwiceOnRealServices(t *testing.T) {
	brokers := servicetest.KafkaBrokers(t)
	esURL := servicetest.ElasticsearchURL(t)
	topic, dlq := servicetest.Name(t, "orders"), servicetest.Name(t, "dlq")
	index, template := servicetest.Name(t, "opsetup"), servicetest.Name(t, "opsetup-tmpl")
	t.Cleanup(func() {
		servicetest.DeleteTopic(t, brokers, topic)
		servicetest.DeleteTopic(t, brokers, dlq)
		req, _ := http.NewRequest(http.MethodDelete, esURL+"/_index_template/"+template, nil)
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
		}
	})
	for k, v := range map[string]string{
		"KAFKA_BROKERS": strings.Join(brokers, ","), "KAFKA_TOPIC": topic, "KAFKA_TOPIC_PARTITIONS": "3",
		"DLQ_TOPIC": dlq, "DLQ_PARTITIONS": "2", "ES_ADDRESSES": esURL, "ES_INDEX": index,
		"ES_TEMPLATE_NAME": template, "ES_TEMPLATE_FILE": privateTemplate(t, index, nil), "SETUP_TIMEOUT": "1m",
	} {
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	getTemplate := func() string {
		t.Helper()
		res, err := http.Get(esURL + "/_index_template/" + template)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 {
			t.Fatalf("GET template: %d %s", res.StatusCode, b)
		}
		return string(b)
	}

	first, errOut, err := runCmd(t, ctx, "setup")
	if err != nil {
		t.Fatalf("first setup: %v\n%s\n%s", err, first, errOut)
	}
	want := fmt.Sprintf("topic %s: created (3 partitions, replication 1)\ntopic %s: created (2 partitions, replication 1)\n"+
		"security: skipped (no passwords set)\ntemplate %s: installed\nkibana: skipped (KIBANA_URL not set)\n", topic, dlq, template)
	if first != want {
		t.Errorf("first setup printed\n%s\nwant\n%s", first, want)
	}
	tmplBefore, topicBefore, dlqBefore := getTemplate(), topicState(t, brokers, topic), topicState(t, brokers, dlq)

	second, errOut, err := runCmd(t, ctx, "setup")
	if err != nil {
		t.Fatalf("second setup: %v\n%s\n%s", err, second, errOut)
	}
	want = fmt.Sprintf("topic %s: exists (3 partitions)\ntopic %s: exists (2 partitions)\n"+
		"security: skipped (no passwords set)\ntemplate %s: unchanged\nkibana: skipped (KIBANA_URL not set)\n", topic, dlq, template)
	if second != want {
		t.Errorf("second setup printed\n%s\nwant\n%s", second, want)
	}
	if got := getTemplate(); got != tmplBefore {
		t.Errorf("second setup changed the template:\nbefore %s\nafter  %s", tmplBefore, got)
	}
	if got := topicState(t, brokers, topic); got != topicBefore {
		t.Errorf("second setup changed topic %s:\nbefore %s\nafter  %s", topic, topicBefore, got)
	}
	if got := topicState(t, brokers, dlq); got != dlqBefore {
		t.Errorf("second setup changed topic %s", dlq)
	}

	// A changed template file is installed again, and says so.
	t.Setenv("ES_TEMPLATE_FILE", privateTemplate(t, index, func(m map[string]any) {
		m["template"].(map[string]any)["settings"].(map[string]any)["refresh_interval"] = "5s"
	}))
	third, errOut, err := runCmd(t, ctx, "setup")
	if err != nil || !strings.Contains(third, "template "+template+": updated\n") {
		t.Errorf("setup with a changed template: %v\n%s\n%s", err, third, errOut)
	}
	if !strings.Contains(getTemplate(), `"refresh_interval":"5s"`) {
		t.Errorf("template not updated: %s", getTemplate())
	}
}

// recorded is one request a fake server saw.
type recorded struct {
	Method, Path, Auth string
	Body               map[string]any
}

// fakeES answers like a security-enabled Elasticsearch and records every
// request. The real test Elasticsearch runs with security off, so the user
// and role calls are proven against this recording instead.
func fakeES(t *testing.T) (*es.Client, func() []recorded) {
	t.Helper()
	var mu sync.Mutex
	var reqs []recorded
	exists := map[string]bool{} // role and user paths already PUT
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
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
	client, err := es.NewClient(es.Config{Addresses: []string{srv.URL}, Username: "elastic", Password: "pw"})
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

// fakeKibana reports itself unavailable for the first notReady status
// calls, then available, and answers imports with importAnswer.
func fakeKibana(t *testing.T, notReady int, importAnswer string) (kibana, func() []*http.Request) {
	t.Helper()
	var mu sync.Mutex
	var imports []*http.Request
	statusCalls := 0
	want, err := deploy.KibanaObjects.ReadFile("kibana/orders.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch r.URL.Path {
		case "/api/status":
			statusCalls++
			level := "available"
			if statusCalls <= notReady {
				level = "unavailable"
				w.WriteHeader(http.StatusServiceUnavailable)
			}
			fmt.Fprintf(w, `{"status":{"overall":{"level":%q}}}`, level)
		case "/api/saved_objects/_import":
			imports = append(imports, r)
			if r.URL.Query().Get("overwrite") != "true" || r.Header.Get("kbn-xsrf") != "true" {
				http.Error(w, `{"error":"missing overwrite or kbn-xsrf"}`, http.StatusBadRequest)
				return
			}
			f, hdr, err := r.FormFile("file")
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			got, _ := io.ReadAll(f)
			if hdr.Filename != "orders.ndjson" || string(got) != string(want) {
				http.Error(w, "wrong file "+hdr.Filename, http.StatusBadRequest)
				return
			}
			io.WriteString(w, importAnswer)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return kibana{url: srv.URL, username: "elastic", password: "pw", client: srv.Client(), pollEvery: 10 * time.Millisecond},
		func() []*http.Request { mu.Lock(); defer mu.Unlock(); return imports }
}

func TestKibanaImport(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tc := range []struct {
		name     string
		notReady int
		answer   string
		timeout  time.Duration
		imports  int
		wantOut  string
		wantErr  string
	}{
		{"available after waiting", 3, `{"success":true,"successCount":12,"errors":[]}`, 5 * time.Second, 1,
			"kibana: applied 12 saved objects from orders.ndjson (import with overwrite)\n", ""},
		{"object errors", 0, `{"success":false,"successCount":11,"errors":[{"id":"x","error":{"type":"missing_references"}}]}`, 5 * time.Second, 1,
			"", "11 imported, 1 failed"},
		{"never available", 1 << 30, "", 200 * time.Millisecond, 0, "", "not available within 200ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, imports := fakeKibana(t, tc.notReady, tc.answer)
			var out strings.Builder
			err := k.importObjects(context.Background(), tc.timeout, deploy.KibanaObjects, &out, quiet)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			if out.String() != tc.wantOut {
				t.Errorf("printed %q, want %q", out.String(), tc.wantOut)
			}
			if got := imports(); len(got) != tc.imports {
				t.Errorf("%d import requests, want %d", len(got), tc.imports)
			} else if len(got) == 1 {
				if u, p, ok := got[0].BasicAuth(); !ok || u != "elastic" || p != "pw" {
					t.Errorf("import sent no basic auth for elastic")
				}
			}
		})
	}
}

func TestSetupSettings(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string // variable named in the usage error, "" = valid
	}{
		{"defaults", map[string]string{}, ""},
		{"compose settings", map[string]string{"KAFKA_TOPIC": "orders", "KAFKA_TOPIC_PARTITIONS": "6"}, ""},
		{"dlq is the topic", map[string]string{"KAFKA_TOPIC": "x", "DLQ_TOPIC": "x"}, "DLQ_TOPIC"},
		{"zero partitions", map[string]string{"KAFKA_TOPIC_PARTITIONS": "0"}, "KAFKA_TOPIC_PARTITIONS"},
		{"users without admin", map[string]string{"CONSUMER_ES_PASSWORD": "c"}, "ES_USERNAME"},
		{"bad kibana url", map[string]string{"KIBANA_URL": "kibana:5601"}, "KIBANA_URL"},
		{"bad kibana timeout", map[string]string{"KIBANA_TIMEOUT": "soon"}, "KIBANA_TIMEOUT"},
		{"missing template file", map[string]string{"ES_TEMPLATE_FILE": "/nonexistent.json"}, "ES_TEMPLATE_FILE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var cfg setupConfig
			err := settings.Load(&cfg)
			if err == nil {
				err = cfg.validate()
			}
			if err == nil && cfg.TemplateFile != "" {
				_, err = os.ReadFile(cfg.TemplateFile)
				if err != nil {
					err = fmt.Errorf("ES_TEMPLATE_FILE: %w", err)
				}
			}
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want one naming %s", err, tc.want)
			}
			if tc.name == "compose names" && (cfg.Topic != "orders" || cfg.Partitions != 6) {
				t.Errorf("compose names read as topic %q, %d partitions", cfg.Topic, cfg.Partitions)
			}
		})
	}
}

func TestTemplateEqual(t *testing.T) {
	stored := `{"index_patterns":["o*"],"composed_of":[],"priority":200,"template":{"settings":{"index":{"number_of_shards":"1","refresh_interval":"1s"}},"mappings":{"dynamic":"strict"}}}`
	for _, tc := range []struct {
		desired string
		same    bool
	}{
		{`{"index_patterns":["o*"],"priority":200,"template":{"settings":{"number_of_shards":1,"refresh_interval":"1s"},"mappings":{"dynamic":"strict"}}}`, true},
		{`{"index_patterns":["o*"],"priority":200,"template":{"settings":{"index.number_of_shards":1,"index":{"refresh_interval":"1s"}},"mappings":{"dynamic":"strict"}}}`, true},
		{`{"index_patterns":["o*"],"priority":201,"template":{"settings":{"number_of_shards":1,"refresh_interval":"1s"},"mappings":{"dynamic":"strict"}}}`, false},
		{`{"index_patterns":["o*"],"priority":200,"template":{"settings":{"number_of_shards":2,"refresh_interval":"1s"},"mappings":{"dynamic":"strict"}}}`, false},
		{`{"index_patterns":["o*"],"priority":200,"template":{"settings":{"number_of_shards":1,"refresh_interval":"1s"},"mappings":{"dynamic":true}}}`, false},
	} {
		got, err := templateEqual([]byte(tc.desired), []byte(stored))
		if err != nil || got != tc.same {
			t.Errorf("templateEqual(%s) = %v, %v; want %v", tc.desired, got, err, tc.same)
		}
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

// TestSetupKibanaThatNeverAnswers: a Kibana that reports itself available
// and then never answers the import ends setup with an error, through the
// per-request timeout and, failing that, through setup's own deadline.
func TestSetupKibanaThatNeverAnswers(t *testing.T) {
	brokers := servicetest.KafkaBrokers(t)
	esURL := servicetest.ElasticsearchURL(t)
	topic, dlq := servicetest.Name(t, "orders"), servicetest.Name(t, "dlq")
	index, template := servicetest.Name(t, "opsetup"), servicetest.Name(t, "opsetup-tmpl")
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/status" {
			io.WriteString(w, `{"status":{"overall":{"level":"available"}}}`)
			return
		}
		select { // hang
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() {
		close(release)
		srv.Close()
		servicetest.DeleteTopic(t, brokers, topic)
		servicetest.DeleteTopic(t, brokers, dlq)
		req, _ := http.NewRequest(http.MethodDelete, esURL+"/_index_template/"+template, nil)
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
		}
	})
	for k, v := range map[string]string{
		"KAFKA_BROKERS": strings.Join(brokers, ","), "KAFKA_TOPIC": topic, "KAFKA_TOPIC_PARTITIONS": "1",
		"DLQ_TOPIC": dlq, "DLQ_PARTITIONS": "1", "ES_ADDRESSES": esURL, "ES_INDEX": index,
		"ES_TEMPLATE_NAME": template, "ES_TEMPLATE_FILE": privateTemplate(t, index, nil),
		"SETUP_TIMEOUT": "1m", "KIBANA_URL": srv.URL, "KIBANA_TIMEOUT": "1m",
	} {
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	restore := kibanaRequestTimeout
	t.Cleanup(func() { kibanaRequestTimeout = restore })
	for _, tc := range []struct {
		name                      string
		perRequest                time.Duration
		kibanaTimeout, setupLimit string
		within                    time.Duration
	}{
		{"request timeout", 300 * time.Millisecond, "1m", "1m", 20 * time.Second},
		{"setup deadline", time.Hour, "1s", "3s", 20 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kibanaRequestTimeout = tc.perRequest
			t.Setenv("KIBANA_TIMEOUT", tc.kibanaTimeout)
			t.Setenv("SETUP_TIMEOUT", tc.setupLimit)
			start := time.Now()
			out, errOut, err := runCmd(t, ctx, "setup")
			if err == nil || !strings.Contains(err.Error(), "import kibana/orders.ndjson into kibana") {
				t.Fatalf("setup = %v, want the import to fail\n%s\n%s", err, out, errOut)
			}
			if took := time.Since(start); took > tc.within {
				t.Errorf("setup gave up after %s, want within %s", took, tc.within)
			}
		})
	}
}

// TestKibanaImportTwice: every setup run imports the saved objects again
// with overwrite, and says so.
func TestKibanaImportTwice(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	k, imports := fakeKibana(t, 0, `{"success":true,"successCount":12,"errors":[]}`)
	for run := 1; run <= 2; run++ {
		var out strings.Builder
		if err := k.importObjects(context.Background(), 5*time.Second, deploy.KibanaObjects, &out, quiet); err != nil {
			t.Fatal(err)
		}
		if want := "kibana: applied 12 saved objects from orders.ndjson (import with overwrite)\n"; out.String() != want {
			t.Errorf("run %d printed %q, want %q", run, out.String(), want)
		}
	}
	if n := len(imports()); n != 2 {
		t.Errorf("%d imports over two runs, want 2 (overwrite=true each time)", n)
	}
}
