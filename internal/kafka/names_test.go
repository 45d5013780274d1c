package kafka

import (
	"errors"
	"os"
	"testing"

	"github.com/orderpipe/orderpipe/internal/settings"
)

func TestTopicNamesValidate(t *testing.T) {
	tests := []struct {
		name     string
		topic    string
		dlq      string
		variable string // "" = valid
	}{
		{"defaults", "orders", "orders.dlq", ""},
		{"empty topic", "", "orders.dlq", "KAFKA_TOPIC"},
		{"empty dlq", "orders", "", "DLQ_TOPIC"},
		{"dlq is the topic", "orders", "orders", "DLQ_TOPIC"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			topic := TopicConfig{Topic: tc.topic}
			err := topic.Validate()
			if err == nil {
				err = DLQConfig{DLQTopic: tc.dlq}.Validate(topic)
			}
			var se *settings.Error
			switch {
			case tc.variable == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tc.variable != "" && (!errors.As(err, &se) || se.Variable != tc.variable):
				t.Fatalf("error %v, want a *settings.Error naming %s", err, tc.variable)
			}
		})
	}
}

func TestTopicNameDefaults(t *testing.T) {
	for _, v := range []string{"KAFKA_TOPIC", "DLQ_TOPIC"} {
		t.Setenv(v, "x") // restores the caller's value afterwards
		os.Unsetenv(v)   // unset, not empty: envconfig only defaults what is unset
	}
	var names struct {
		TopicConfig
		DLQConfig
	}
	if err := settings.Load(&names); err != nil {
		t.Fatal(err)
	}
	if names.Topic != "orders" || names.DLQTopic != "orders.dlq" {
		t.Fatalf("defaults %q and %q, want orders and orders.dlq (compose, Logstash and the README use them)", names.Topic, names.DLQTopic)
	}
}
