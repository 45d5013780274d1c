package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/deploy"
	"github.com/orderpipe/orderpipe/internal/servicetest"
)

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

// TestSetupKibanaPartAlone: SETUP_PARTS=kibana (compose's kibana-setup)
// imports the saved objects and touches neither Kafka nor Elasticsearch:
// both point where nothing listens, with a deadline that would end the
// run if setup waited for them.
func TestSetupKibanaPartAlone(t *testing.T) {
	k, imports := fakeKibana(t, 2, `{"success":true,"successCount":7}`)
	for key, v := range map[string]string{
		"SETUP_PARTS": "kibana", "KIBANA_URL": k.url, "KIBANA_TIMEOUT": "30s", "SETUP_TIMEOUT": "2s",
		"KAFKA_BROKERS": servicetest.FreeAddr(t), "ES_ADDRESSES": "http://" + servicetest.FreeAddr(t),
		"ES_USERNAME": "elastic", "ES_PASSWORD": "pw",
	} {
		t.Setenv(key, v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, errOut, err := runCmd(t, ctx, "setup")
	if err != nil {
		t.Fatalf("setup with SETUP_PARTS=kibana: %v\n%s\n%s", err, out, errOut)
	}
	want := "topics: not selected by SETUP_PARTS\nsecurity: not selected by SETUP_PARTS\ntemplate: not selected by SETUP_PARTS\n" +
		"kibana: applied 7 saved objects from orders.ndjson (import with overwrite)\n"
	if out != want {
		t.Errorf("setup printed\n%s\nwant\n%s", out, want)
	}
	if n := len(imports()); n != 1 {
		t.Errorf("%d imports, want 1", n)
	}
}

// TestSetupPartsUsage: a bad SETUP_PARTS is a usage error (exit 2) that
// names the variable, before anything is contacted.
func TestSetupPartsUsage(t *testing.T) {
	for _, value := range []string{"kibana,dashboards", ","} {
		t.Setenv("SETUP_PARTS", value)
		var stderr strings.Builder
		code := exitCode(run(context.Background(), []string{"setup"}, io.Discard, &stderr), &stderr)
		if code != 2 || !strings.Contains(stderr.String(), "SETUP_PARTS") {
			t.Errorf("SETUP_PARTS=%q: exit %d, stderr %q; want 2 naming SETUP_PARTS", value, code, stderr.String())
		}
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
		"DLQ_TOPIC": dlq, "DLQ_TOPIC_PARTITIONS": "1", "ES_ADDRESSES": esURL, "ES_INDEX": index,
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
