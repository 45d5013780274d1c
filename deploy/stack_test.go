package deploy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// contract is the ONE place the tests keep the values that every ingest path
// (Logstash pipeline, Go consumer via its compose environment) and setup must
// agree on. The Go consumer's own defaults live in cmd/consumer; when they
// change, this table, logstash/pipeline/orders.conf and docker-compose.yml
// change together.
var contract = struct {
	Topic              string
	DLQTopic           string
	Index              string
	ConsumerGroup      string // the Go consumer's group
	LogstashGroup      string // must differ from ConsumerGroup
	DocumentID         string
	Version            string
	VersionType        string
	InternalBootstrap  string // Kafka listener for containers
	HostBootstrap      string // Kafka listener advertised to the host
	ESURL              string // Elasticsearch as seen from containers
	KibanaURL          string
	ProducerOpsAddr    string
	ConsumerOpsAddr    string
	OrdersPartitions   string
	ConsumerESUser     string
	LogstashWriterUser string
}{
	Topic:              "orders",
	DLQTopic:           "orders.dlq",
	Index:              "orders",
	ConsumerGroup:      "orderpipe-consumer",
	LogstashGroup:      "orderpipe-logstash",
	DocumentID:         "%{order_id}",
	Version:            "%{version}",
	VersionType:        "external",
	InternalBootstrap:  "kafka:19092",
	HostBootstrap:      "localhost:9092",
	ESURL:              "http://elasticsearch:9200",
	KibanaURL:          "http://kibana:5601",
	ProducerOpsAddr:    ":9100",
	ConsumerOpsAddr:    ":9101",
	OrdersPartitions:   "6",
	ConsumerESUser:     "orderpipe_consumer",
	LogstashWriterUser: "logstash_writer",
}

// repoRoot is the repository root, where docker-compose.yml and .env live.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "docker-compose.yml")); err != nil {
		t.Fatalf("docker-compose.yml not found at the repository root: %v", err)
	}
	return root
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fieldMapping is one leaf of the orders mapping, multi-fields included
// (customer.name.keyword).
type fieldMapping struct {
	Type          string
	ScalingFactor float64
	IgnoreAbove   int
}

// aggregatable reports whether Kibana can aggregate/sort on the field.
func (f fieldMapping) aggregatable() bool {
	switch f.Type {
	case "keyword", "constant_keyword", "boolean", "date", "date_nanos", "geo_point", "ip",
		"long", "integer", "short", "byte", "double", "float", "half_float", "scaled_float", "unsigned_long":
		return true
	}
	return false
}

func (f fieldMapping) numeric() bool {
	switch f.Type {
	case "long", "integer", "short", "byte", "double", "float", "half_float", "scaled_float", "unsigned_long":
		return true
	}
	return false
}

type templateBody struct {
	IndexPatterns []string        `json:"index_patterns"`
	Priority      int             `json:"priority"`
	Template      templateSection `json:"template"`
}

type templateSection struct {
	Settings map[string]any `json:"settings"`
	Mappings struct {
		Dynamic    any                       `json:"dynamic"`
		Properties map[string]map[string]any `json:"properties"`
	} `json:"mappings"`
}

func loadTemplate(t *testing.T) templateBody {
	t.Helper()
	var tb templateBody
	if err := json.Unmarshal(OrdersTemplate, &tb); err != nil {
		t.Fatalf("orders-template.json is not valid JSON: %v", err)
	}
	return tb
}

// templateFields flattens the template's mapping into dotted field names.
func templateFields(t *testing.T) map[string]fieldMapping {
	t.Helper()
	out := map[string]fieldMapping{}
	var walk func(prefix string, props map[string]any)
	walk = func(prefix string, props map[string]any) {
		for name, raw := range props {
			def, ok := raw.(map[string]any)
			if !ok {
				t.Fatalf("mapping of %s%s is not an object", prefix, name)
			}
			full := prefix + name
			if sub, ok := def["properties"].(map[string]any); ok {
				if typ, _ := def["type"].(string); typ != "" && typ != "object" {
					out[full] = fieldMapping{Type: typ}
				}
				walk(full+".", sub)
				continue
			}
			fm := fieldMapping{}
			fm.Type, _ = def["type"].(string)
			fm.ScalingFactor, _ = def["scaling_factor"].(float64)
			if ia, ok := def["ignore_above"].(float64); ok {
				fm.IgnoreAbove = int(ia)
			}
			out[full] = fm
			if multi, ok := def["fields"].(map[string]any); ok {
				walk(full+".", multi)
			}
		}
	}
	tb := loadTemplate(t)
	props := map[string]any{}
	for k, v := range tb.Template.Mappings.Properties {
		props[k] = v
	}
	walk("", props)
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
