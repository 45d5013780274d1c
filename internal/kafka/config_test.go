package kafka

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/internal/settings/settingstest"
)

func TestConfigValidateNamesTheVariable(t *testing.T) {
	good := Config{Brokers: []string{"127.0.0.1:9092"}}
	tests := []struct {
		name     string
		mutate   func(*Config)
		variable string
	}{
		{"ok", func(*Config) {}, ""},
		{"no brokers", func(c *Config) { c.Brokers = nil }, "KAFKA_BROKERS"},
		{"broker without port", func(c *Config) { c.Brokers = []string{"kafka"} }, "KAFKA_BROKERS"},
		{"broker with empty port", func(c *Config) { c.Brokers = []string{"kafka:"} }, "KAFKA_BROKERS"},
		{"unknown SASL", func(c *Config) { c.SASLMechanism = "gssapi" }, "KAFKA_SASL_MECHANISM"},
		{"SASL without user", func(c *Config) { c.SASLMechanism = "plain" }, "KAFKA_SASL_USERNAME"},
		{"SASL scram ok", func(c *Config) { c.SASLMechanism, c.SASLUsername = "SCRAM-SHA-512", "u" }, ""},
		{"missing CA file", func(c *Config) { c.TLS, c.TLSCACert = true, "/nonexistent/ca.pem" }, "KAFKA_TLS_CA_CERT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.mutate(&c)
			err := c.Validate()
			settingstest.AssertNamesVariable(t, err, tt.variable)
		})
	}
}

func TestWriterConfigValidateNamesTheVariable(t *testing.T) {
	good := WriterConfig{Acks: "all", BatchConfig: BatchConfig{Compression: "lz4", BatchSize: 100, BatchBytes: 1 << 20, BatchTimeout: time.Millisecond}}
	tests := []struct {
		name     string
		mutate   func(*WriterConfig)
		variable string
	}{
		{"ok", func(*WriterConfig) {}, ""},
		{"acks one", func(c *WriterConfig) { c.Acks = "one" }, ""},
		{"acks bad", func(c *WriterConfig) { c.Acks = "most" }, "KAFKA_ACKS"},
		{"compression zstd", func(c *WriterConfig) { c.Compression = "zstd" }, ""},
		{"compression bad", func(c *WriterConfig) { c.Compression = "brotli" }, "KAFKA_COMPRESSION"},
		{"batch size 0", func(c *WriterConfig) { c.BatchSize = 0 }, "KAFKA_BATCH_SIZE"},
		{"batch bytes tiny", func(c *WriterConfig) { c.BatchBytes = 10 }, "KAFKA_BATCH_BYTES"},
		{"batch timeout 0", func(c *WriterConfig) { c.BatchTimeout = 0 }, "KAFKA_BATCH_TIMEOUT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.mutate(&c)
			settingstest.AssertNamesVariable(t, c.Validate(), tt.variable)
		})
	}
}

func TestTLSWithACertificateThatIsNotPEMIsRejected(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := Config{Brokers: []string{"127.0.0.1:9092"}, TLS: true, TLSCACert: path}
	_, err := c.Transport()
	settingstest.AssertNamesVariable(t, err, "KAFKA_TLS_CA_CERT")
}

// kafka-go re-reads metadata only on its TTL, so the TTL bounds how long
// writes go on to a dead leader after a new one is elected.
func TestTransportRefreshesMetadataWithinAFailover(t *testing.T) {
	tr, err := Config{Brokers: []string{"127.0.0.1:9092"}}.Transport()
	if err != nil {
		t.Fatal(err)
	}
	if tr.MetadataTTL <= 0 || tr.MetadataTTL > 2*time.Second {
		t.Fatalf("metadata TTL %v: kafka-go's 6 s default (or longer) would lengthen every failover", tr.MetadataTTL)
	}
}
