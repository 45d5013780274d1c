// Package kafka connects orderpipe's programs to Apache Kafka through
// segmentio/kafka-go.
//
// It owns what every program needs alike: the connection settings (brokers,
// SASL, TLS) and the topics' names and layouts read from the environment,
// the topic set-up that waits out a broker that is not up yet, and the
// writer settings. kafka-go's defaults suit
// none of orderpipe's programs (a 1 s batch timeout, 100-message batches, and
// no acks at all for a Writer literal), so every setting here is deliberate.
package kafka

import (
	"crypto/tls"
	"fmt"
	"os"
	"strings"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/orderpipe/orderpipe/internal/settings"
	"github.com/orderpipe/orderpipe/internal/trust"
)

// Config is how a program reaches the cluster. Programs embed it in their own
// configuration so that envconfig reads the same variables everywhere.
type Config struct {
	Brokers       []string `envconfig:"KAFKA_BROKERS" default:"localhost:9092" desc:"comma-separated bootstrap brokers (host:port)"`
	ClientID      string   `envconfig:"KAFKA_CLIENT_ID" default:"orderpipe" desc:"client id sent to the brokers"`
	SASLMechanism string   `envconfig:"KAFKA_SASL_MECHANISM" desc:"SASL mechanism: plain, scram-sha-256 or scram-sha-512 (empty: no SASL)"`
	SASLUsername  string   `envconfig:"KAFKA_SASL_USERNAME" desc:"SASL user name"`
	SASLPassword  string   `envconfig:"KAFKA_SASL_PASSWORD" desc:"SASL password (masked in logs)"`
	TLS           bool     `envconfig:"KAFKA_TLS" default:"false" desc:"connect with TLS"`
	TLSCACert     string   `envconfig:"KAFKA_TLS_CA_CERT" desc:"PEM file of the CA that signed the brokers' certificates (empty: system roots)"`
	TLSSkipVerify bool     `envconfig:"KAFKA_TLS_INSECURE_SKIP_VERIFY" default:"false" desc:"do not verify the brokers' certificates (testing only)"`
}

// Validate checks the settings that envconfig cannot.
func (c Config) Validate() error {
	if len(c.Brokers) == 0 {
		return &settings.Error{Variable: "KAFKA_BROKERS", Reason: "at least one broker is required"}
	}
	for _, b := range c.Brokers {
		if i := strings.LastIndexByte(b, ':'); i <= 0 || i == len(b)-1 {
			return &settings.Error{Variable: "KAFKA_BROKERS", Reason: fmt.Sprintf("%q is not host:port", b)}
		}
	}
	switch strings.ToLower(c.SASLMechanism) {
	case "":
	case "plain", "scram-sha-256", "scram-sha-512":
		if c.SASLUsername == "" {
			return &settings.Error{Variable: "KAFKA_SASL_USERNAME", Reason: "required when KAFKA_SASL_MECHANISM is set"}
		}
	default:
		return &settings.Error{Variable: "KAFKA_SASL_MECHANISM", Reason: fmt.Sprintf("%q is not plain, scram-sha-256 or scram-sha-512", c.SASLMechanism)}
	}
	if c.TLSCACert != "" {
		if _, err := os.Stat(c.TLSCACert); err != nil {
			return &settings.Error{Variable: "KAFKA_TLS_CA_CERT", Reason: err.Error()}
		}
	}
	return nil
}

func (c Config) mechanism() (sasl.Mechanism, error) {
	switch strings.ToLower(c.SASLMechanism) {
	case "":
		return nil, nil
	case "plain":
		return plain.Mechanism{Username: c.SASLUsername, Password: c.SASLPassword}, nil
	case "scram-sha-256":
		return scram.Mechanism(scram.SHA256, c.SASLUsername, c.SASLPassword)
	case "scram-sha-512":
		return scram.Mechanism(scram.SHA512, c.SASLUsername, c.SASLPassword)
	}
	return nil, &settings.Error{Variable: "KAFKA_SASL_MECHANISM", Reason: "unsupported"}
}

func (c Config) tlsConfig() (*tls.Config, error) {
	if !c.TLS {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.TLSSkipVerify} //nolint:gosec // opt-in for test clusters
	if c.TLSCACert != "" {
		pool, err := trust.CAPool(c.TLSCACert, "KAFKA_TLS_CA_CERT")
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// Transport is the connection pool used by writers and admin requests.
//
// Its bootstrap address is every broker in KAFKA_BROKERS: kafka-go dials
// them in random order until one answers, so a dead one (the first or any)
// only costs a refused connection.
func (c Config) Transport() (*kafkago.Transport, error) {
	mech, err := c.mechanism()
	if err != nil {
		return nil, fmt.Errorf("configure SASL: %w", err)
	}
	tlsCfg, err := c.tlsConfig()
	if err != nil {
		return nil, err
	}
	return &kafkago.Transport{ClientID: c.ClientID, SASL: mech, TLS: tlsCfg, DialTimeout: 5 * time.Second, MetadataTTL: metadataTTL}, nil
}

// metadataTTL bounds how long writes go on to a dead leader. kafka-go
// re-reads the cluster's metadata only on a timer (a random wait below the
// TTL), not when a broker answers NOT_LEADER or stops answering, so after a
// broker dies the writes to its partitions fail until the first refresh
// after the new leader's election. The 6 s default adds up to 6 s to every
// failover; 2 s adds at most 2 (1 on average) for about one small metadata
// request a second per client, nothing to a broker. Much lower would buy
// little and risk more: the refresh's own timeout is the TTL too, so a busy
// broker that answers in more than the TTL would leave the metadata stale.
const metadataTTL = 2 * time.Second

// Dialer is what kafka-go's Reader uses to connect.
func (c Config) Dialer() (*kafkago.Dialer, error) {
	mech, err := c.mechanism()
	if err != nil {
		return nil, fmt.Errorf("configure SASL: %w", err)
	}
	tlsCfg, err := c.tlsConfig()
	if err != nil {
		return nil, err
	}
	return &kafkago.Dialer{ClientID: c.ClientID, SASLMechanism: mech, TLS: tlsCfg, Timeout: 10 * time.Second, DualStack: true}, nil
}

// Client returns an admin client for topic and offset requests.
func (c Config) Client() (*kafkago.Client, error) {
	tr, err := c.Transport()
	if err != nil {
		return nil, err
	}
	return &kafkago.Client{Addr: kafkago.TCP(c.Brokers...), Transport: tr, Timeout: 10 * time.Second}, nil
}
