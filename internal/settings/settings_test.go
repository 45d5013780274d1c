package settings

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"
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
	ignored string
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
	want := defaults{Nested: Nested{Topic: "orders"}, Brokers: []string{"a:1", "b:2"}, Rate: 2.5, Count: 7, Delay: 30 * time.Second, TLS: true}
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
