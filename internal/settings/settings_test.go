package settings

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kelseyhightower/envconfig"
)

type Inner struct {
	Brokers  []string `envconfig:"KAFKA_BROKERS"`
	Password string   `envconfig:"KAFKA_SASL_PASSWORD"`
}

type spec struct {
	Inner
	Rate    float64       `envconfig:"PRODUCER_RATE"`
	Delay   time.Duration `envconfig:"PRODUCER_LIFECYCLE_DELAY"`
	APIKey  string        `envconfig:"ES_API_KEY"`
	ignored string        //nolint:unused // an unexported field, which Variables must skip
}

func TestSettingsLogsVariablesByNameWithSecretsMasked(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("start", "config", LogValue(spec{Inner: Inner{Brokers: []string{"a:1", "b:2"}, Password: "hunter2"}, Rate: 2.5, Delay: 30 * time.Second}))
	var line struct {
		Config map[string]string `json:"config"`
	}
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("log line %q: %v", buf.String(), err)
	}
	want := map[string]string{
		"KAFKA_BROKERS": "a:1,b:2", "KAFKA_SASL_PASSWORD": "*****", "PRODUCER_RATE": "2.5",
		"PRODUCER_LIFECYCLE_DELAY": "30s", "ES_API_KEY": "",
	}
	for k, v := range want {
		if line.Config[k] != v {
			t.Errorf("%s = %q, want %q", k, line.Config[k], v)
		}
	}
	if strings.Contains(buf.String(), "hunter2") {
		t.Fatal("the password reached the log")
	}
}

func TestLoadNamesTheVariableOfAValueThatDoesNotParse(t *testing.T) {
	t.Setenv("PRODUCER_RATE", "fast")
	var s spec
	err := Load(&s)
	var ue *UsageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "PRODUCER_RATE") {
		t.Fatalf("Load = %v, want a UsageError naming PRODUCER_RATE", err)
	}
}

func TestPrintListsVariablesWithDefaults(t *testing.T) {
	var out bytes.Buffer
	if err := Print(&out, &struct {
		Topic string `envconfig:"KAFKA_TOPIC" default:"orders" desc:"topic"`
	}{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "KAFKA_TOPIC") || !strings.Contains(out.String(), "orders") {
		t.Fatalf("Print wrote %q", out.String())
	}
}

func TestErrorMatchesErrInvalid(t *testing.T) {
	err := error(&Error{Variable: "X", Reason: "bad"})
	if !errors.Is(err, ErrInvalid) || err.Error() != "X: bad" {
		t.Fatalf("%v", err)
	}
}

func TestExitCode(t *testing.T) {
	tests := []struct {
		name string
		err  error
		code int
		says string
	}{
		{"success", nil, 0, ""},
		{"bad setting", Usage(&Error{Variable: "KAFKA_ACKS", Reason: "bad"}), 2, "KAFKA_ACKS: bad"},
		{"runtime failure", errors.New("kafka down"), 1, "kafka down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if code := ExitCode("prog", "prog -h", tt.err, &stderr); code != tt.code {
				t.Fatalf("ExitCode = %d, want %d", code, tt.code)
			}
			if !strings.Contains(stderr.String(), tt.says) || (tt.err == nil) != (stderr.Len() == 0) {
				t.Fatalf("stderr %q, want it to say %q", stderr.String(), tt.says)
			}
		})
	}
}

type layout struct {
	Partitions        int `split_words:"true" default:"6" desc:"partitions"`
	MinInsyncReplicas int `split_words:"true" default:"1" desc:"min ISR"`
}

// level decodes itself, so envconfig reads it from one variable although
// it is a struct.
type level struct{ n int }

func (l *level) Decode(s string) error { l.n = len(s); return nil }

type nested struct {
	Inner
	Orders  layout `envconfig:"KAFKA_TOPIC"`
	DLQ     layout `envconfig:"DLQ_TOPIC"`
	Level   level  `envconfig:"LOG_LEVEL"`
	Untaged string
	Skipped string `envconfig:"SKIPPED" ignored:"true"`
}

func (nested) RenamedVariables() map[string]string {
	return map[string]string{"DLQ_PARTITIONS": "DLQ_TOPIC_PARTITIONS"}
}

func TestVariablesAreTheNamesEnvconfigReads(t *testing.T) {
	var fromEnvconfig bytes.Buffer
	if err := envconfig.Usagef("", &nested{}, &fromEnvconfig, "{{range .}}{{usage_key .}}\n{{end}}"); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, v := range Variables(&nested{}) {
		names = append(names, v.Name)
	}
	want := strings.Fields(fromEnvconfig.String())
	if !slices.Equal(names, want) {
		t.Fatalf("Variables = %v\nenvconfig reads %v", names, want)
	}
	for _, name := range []string{"KAFKA_TOPIC_PARTITIONS", "DLQ_TOPIC_MIN_INSYNC_REPLICAS", "LOG_LEVEL"} {
		if !slices.Contains(names, name) {
			t.Errorf("Variables lacks %s: %v", name, names)
		}
	}
}

func TestLogValueNamesNestedVariablesInFull(t *testing.T) {
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("start", "config",
		LogValue(nested{Orders: layout{Partitions: 6, MinInsyncReplicas: 2}, DLQ: layout{Partitions: 1, MinInsyncReplicas: 1}}))
	var line struct {
		Config map[string]string `json:"config"`
	}
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"KAFKA_TOPIC_PARTITIONS": "6", "KAFKA_TOPIC_MIN_INSYNC_REPLICAS": "2", "DLQ_TOPIC_PARTITIONS": "1"} {
		if line.Config[k] != v {
			t.Errorf("%s = %q, want %q (logged %v)", k, line.Config[k], v, line.Config)
		}
	}
}

func TestLoadRefusesARenamedVariableNamingItsReplacement(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		says string // "" = loads
	}{
		{"new name", map[string]string{"DLQ_TOPIC_PARTITIONS": "2"}, ""},
		{"old name", map[string]string{"DLQ_PARTITIONS": "2"}, "DLQ_PARTITIONS: was renamed DLQ_TOPIC_PARTITIONS"},
		{"old name, even empty", map[string]string{"DLQ_PARTITIONS": ""}, "DLQ_TOPIC_PARTITIONS"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			// Inside another struct too: the programs embed the layouts.
			var s struct{ nested }
			err := Load(&s)
			var ue *UsageError
			switch {
			case tc.says == "" && err != nil:
				t.Fatalf("Load = %v", err)
			case tc.says != "" && (!errors.As(err, &ue) || !strings.Contains(err.Error(), tc.says)):
				t.Fatalf("Load = %v, want a UsageError saying %q", err, tc.says)
			}
		})
	}
}

// An unprefixed variable must not stand in for a prefixed one: envconfig
// falls back to a field's bare tag, which split_words does not set.
func TestNestedLayoutIgnoresBareNames(t *testing.T) {
	t.Setenv("PARTITIONS", "9")
	var s nested
	if err := Load(&s); err != nil {
		t.Fatal(err)
	}
	if s.Orders.Partitions != 6 {
		t.Fatalf("KAFKA_TOPIC_PARTITIONS = %d with only PARTITIONS=9 set, want the default 6", s.Orders.Partitions)
	}
}

func TestDefaultsIgnoreTheEnvironment(t *testing.T) {
	type Nested struct {
		Topic string `envconfig:"KAFKA_TOPIC" default:"orders"`
	}
	type defaults struct {
		Nested
		Brokers []string      `envconfig:"KAFKA_BROKERS" default:"a:1,b:2"`
		Rate    float64       `envconfig:"PRODUCER_RATE" default:"2.5"`
		Count   int64         `envconfig:"PRODUCER_COUNT" default:"7"`
		Delay   time.Duration `envconfig:"PRODUCER_LIFECYCLE_DELAY" default:"30s"`
		TLS     bool          `envconfig:"KAFKA_TLS" default:"true"`
		Unset   string        `envconfig:"ES_API_KEY"`
		DLQ     layout        `envconfig:"DLQ_TOPIC"`
		Skipped string        `envconfig:"SKIPPED" ignored:"true" default:"x"`
	}
	for name, value := range map[string]string{
		"KAFKA_TOPIC": "other", "KAFKA_BROKERS": "c:3", "PRODUCER_RATE": "9", "PRODUCER_COUNT": "9",
		"PRODUCER_LIFECYCLE_DELAY": "1h", "KAFKA_TLS": "false", "ES_API_KEY": "k",
	} {
		t.Setenv(name, value)
	}
	var got defaults
	if err := Defaults(&got); err != nil {
		t.Fatal(err)
	}
	want := defaults{Nested: Nested{Topic: "orders"}, Brokers: []string{"a:1", "b:2"}, Rate: 2.5, Count: 7, Delay: 30 * time.Second, TLS: true,
		DLQ: layout{Partitions: 6, MinInsyncReplicas: 1}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Defaults = %+v, want %+v", got, want)
	}
}

func TestDefaultsNameAnUnparsableDefault(t *testing.T) {
	var bad struct {
		Size int `envconfig:"BULK_SIZE" default:"many"`
	}
	if err := Defaults(&bad); err == nil || !strings.Contains(err.Error(), "BULK_SIZE") {
		t.Fatalf("Defaults = %v, want an error naming BULK_SIZE", err)
	}
}
