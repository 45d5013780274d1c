package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/orderpipe/orderpipe/deploy"
	"github.com/orderpipe/orderpipe/internal/kafka"
	"github.com/orderpipe/orderpipe/internal/servicetest"
	"github.com/orderpipe/orderpipe/internal/settings"
)

// privateTemplate writes the orders template with patterns and priority of
// this test's own, so it cannot collide with "orders*" templates that other
// packages install in the shared Elasticsearch.
func privateTemplate(t *testing.T, index string, edit func(map[string]any)) string {
	t.Helper()
	data, _ := json.Marshal(servicetest.ScopedTemplate(t, deploy.OrdersTemplate, []string{index + "*"}, edit))
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
	admin, err := kafka.NewAdmin(kafka.Config{Brokers: brokers})
	if err != nil {
		t.Fatal(err)
	}
	parts, err := admin.Offsets(ctx, topic)
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
		servicetest.ES(t, esURL, http.MethodDelete, "/"+index, nil)
		servicetest.ES(t, esURL, http.MethodDelete, "/_index_template/"+template, nil)
	})
	for k, v := range map[string]string{
		"KAFKA_BROKERS": strings.Join(brokers, ","), "KAFKA_TOPIC": topic, "KAFKA_TOPIC_PARTITIONS": "3",
		"DLQ_TOPIC": dlq, "DLQ_TOPIC_PARTITIONS": "2", "ES_ADDRESSES": esURL, "ES_INDEX": index,
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
	want := fmt.Sprintf("topic %s: created (3 partitions, replication 1, min.insync.replicas 1)\n"+
		"topic %s: created (2 partitions, replication 1, min.insync.replicas 1)\n"+
		"security: skipped (no passwords set)\ntemplate %s: installed\nindex %s: created from template %s\nkibana: skipped (KIBANA_URL not set)\n", topic, dlq, template, index, template)
	if first != want {
		t.Errorf("first setup printed\n%s\nwant\n%s", first, want)
	}
	tmplBefore, topicBefore, dlqBefore := getTemplate(), topicState(t, brokers, topic), topicState(t, brokers, dlq)

	second, errOut, err := runCmd(t, ctx, "setup")
	if err != nil {
		t.Fatalf("second setup: %v\n%s\n%s", err, second, errOut)
	}
	want = fmt.Sprintf("topic %s: exists (3 partitions)\ntopic %s: exists (2 partitions)\n"+
		"security: skipped (no passwords set)\ntemplate %s: unchanged\nindex %s: exists, mapped as template %s says\nkibana: skipped (KIBANA_URL not set)\n", topic, dlq, template, index, template)
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

	// A layout asking for more than the existing topics have is pointed out
	// by name, and changes nothing.
	t.Setenv("KAFKA_TOPIC_PARTITIONS", "4")
	t.Setenv("DLQ_TOPIC_REPLICATION_FACTOR", "2")
	t.Setenv("DLQ_TOPIC_MIN_INSYNC_REPLICAS", "2")
	warned, errOut, err := runCmd(t, ctx, "setup")
	if err != nil {
		t.Fatalf("setup with a larger layout: %v\n%s\n%s", err, warned, errOut)
	}
	for _, want := range []string{
		fmt.Sprintf("topic %s: WARNING has partitions 3, 4 asked by KAFKA_TOPIC_PARTITIONS; not changed", topic),
		fmt.Sprintf("topic %s: WARNING has replication.factor 1, 2 asked by DLQ_TOPIC_REPLICATION_FACTOR; not changed", dlq),
		fmt.Sprintf("topic %s: WARNING has min.insync.replicas 1, 2 asked by DLQ_TOPIC_MIN_INSYNC_REPLICAS; not changed", dlq),
	} {
		if !strings.Contains(warned, want) {
			t.Errorf("setup with a larger layout printed\n%s\nwithout %q", warned, want)
		}
	}
	if strings.Count(warned, "WARNING") != 3 {
		t.Errorf("setup with a larger layout printed %d warnings, want 3:\n%s", strings.Count(warned, "WARNING"), warned)
	}
	if got := topicState(t, brokers, dlq); got != dlqBefore {
		t.Errorf("setup with a larger layout changed topic %s:\nbefore %s\nafter  %s", dlq, dlqBefore, got)
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

	// compose's setup: every part but Kibana's, with a KIBANA_URL where
	// nothing listens, so that contacting Kibana would fail the run.
	t.Setenv("SETUP_PARTS", "topics,security,template")
	t.Setenv("KIBANA_URL", "http://"+servicetest.FreeAddr(t))
	noKibana, errOut, err := runCmd(t, ctx, "setup")
	if err != nil {
		t.Fatalf("setup without the kibana part: %v\n%s\n%s", err, noKibana, errOut)
	}
	if !strings.HasPrefix(noKibana, "kibana: not selected by SETUP_PARTS\n") || !strings.Contains(noKibana, "template "+template+": unchanged\n") {
		t.Errorf("setup without the kibana part printed\n%s", noKibana)
	}
}

// recorded is one request a fake server saw.
type recorded struct {
	Method, Path, Auth string
	Body               map[string]any
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
		{"cluster layout", map[string]string{"KAFKA_TOPIC_REPLICATION_FACTOR": "3", "KAFKA_TOPIC_MIN_INSYNC_REPLICAS": "2",
			"DLQ_TOPIC_REPLICATION_FACTOR": "3", "DLQ_TOPIC_MIN_INSYNC_REPLICAS": "2"}, ""},
		{"dlq min ISR above RF", map[string]string{"DLQ_TOPIC_MIN_INSYNC_REPLICAS": "2"}, "DLQ_TOPIC_MIN_INSYNC_REPLICAS"},
		{"old dlq name", map[string]string{"DLQ_PARTITIONS": "2"}, "DLQ_TOPIC_PARTITIONS"},
		{"users without admin", map[string]string{"CONSUMER_ES_PASSWORD": "c"}, "ES_USERNAME"},
		{"bad kibana url", map[string]string{"KIBANA_URL": "kibana:5601"}, "KIBANA_URL"},
		{"bad kibana timeout", map[string]string{"KIBANA_TIMEOUT": "soon"}, "KIBANA_TIMEOUT"},
		{"missing template file", map[string]string{"ES_TEMPLATE_FILE": "/nonexistent.json"}, "ES_TEMPLATE_FILE"},
		{"text logs", map[string]string{"LOG_FORMAT": "text"}, ""},
		{"json logs", map[string]string{"LOG_FORMAT": "json"}, ""},
		{"bad log format", map[string]string{"LOG_FORMAT": "yaml"}, "LOG_FORMAT"},
		{"bad log level", map[string]string{"LOG_LEVEL": "loud"}, "LOG_LEVEL"},
		{"compose setup parts", map[string]string{"SETUP_PARTS": "topics,security,template"}, ""},
		{"kibana part", map[string]string{"SETUP_PARTS": " kibana ", "KIBANA_URL": "http://kibana:5601"}, ""},
		{"unknown part", map[string]string{"SETUP_PARTS": "topics,dashboards"}, "SETUP_PARTS"},
		{"no part", map[string]string{"SETUP_PARTS": " , "}, "SETUP_PARTS"},
		{"kibana part without kibana", map[string]string{"SETUP_PARTS": "kibana"}, "KIBANA_URL"},
		{"users without admin, security not selected", map[string]string{"CONSUMER_ES_PASSWORD": "c", "SETUP_PARTS": "topics"}, ""},
		{"users without admin, security selected", map[string]string{"CONSUMER_ES_PASSWORD": "c", "SETUP_PARTS": "security"}, "ES_USERNAME"},
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
			if tc.name == "compose setup parts" && (!cfg.parts[partTopics] || !cfg.parts[partSecurity] || !cfg.parts[partTemplate] || cfg.parts[partKibana]) {
				t.Errorf("SETUP_PARTS=topics,security,template selected %v", cfg.parts)
			}
			if tc.name == "defaults" && !cfg.parts.all() {
				t.Errorf("no SETUP_PARTS selected %v, want every part", cfg.parts)
			}
			if tc.name == "compose settings" && (cfg.Topic != "orders" || cfg.Orders.Partitions != 6) {
				t.Errorf("compose names read as topic %q, %d partitions", cfg.Topic, cfg.Orders.Partitions)
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
