package servicetest

import (
	"strings"
	"testing"
)

// Environment variables scripts/with-services sets for the broker's
// SASL_SSL listener (scripts/services ORDERPIPE_KAFKA_SASL=true): the same
// broker as ORDERPIPE_TEST_KAFKA_BROKERS, so a topic created or read on the
// open listener is the topic a client reaches through the secured one.
const (
	EnvKafkaSASLBrokers   = "ORDERPIPE_TEST_KAFKA_SASL_BROKERS"
	EnvKafkaSASLMechanism = "ORDERPIPE_TEST_KAFKA_SASL_MECHANISM"
	EnvKafkaSASLUsername  = "ORDERPIPE_TEST_KAFKA_SASL_USERNAME"
	EnvKafkaSASLPassword  = "ORDERPIPE_TEST_KAFKA_SASL_PASSWORD"
	EnvKafkaSASLCACert    = "ORDERPIPE_TEST_KAFKA_SASL_CA_CERT"
)

// SASLKafka is the broker's SASL_SSL listener: SCRAM-SHA-512 with one user
// made when the storage was formatted, TLS with a CA made when it started.
type SASLKafka struct {
	Brokers   []string
	Mechanism string // as KAFKA_SASL_MECHANISM takes it
	Username  string
	Password  string
	CACert    string // PEM file
}

// KafkaSASL returns the SASL_SSL listener, or skips (fails on CI).
func KafkaSASL(tb testing.TB) SASLKafka {
	tb.Helper()
	return SASLKafka{
		Brokers:   strings.Split(require(tb, EnvKafkaSASLBrokers), ","),
		Mechanism: require(tb, EnvKafkaSASLMechanism),
		Username:  require(tb, EnvKafkaSASLUsername),
		Password:  require(tb, EnvKafkaSASLPassword),
		CACert:    require(tb, EnvKafkaSASLCACert),
	}
}

// Setenv points the KAFKA_* connection variables every program reads at
// the listener as the SCRAM user with password, trusting the CA in file
// ca; a test passes the listener's own or a wrong one.
func (k SASLKafka) Setenv(tb testing.TB, password, ca string) {
	tb.Helper()
	for name, value := range map[string]string{
		"KAFKA_BROKERS": strings.Join(k.Brokers, ","), "KAFKA_SASL_MECHANISM": k.Mechanism,
		"KAFKA_SASL_USERNAME": k.Username, "KAFKA_SASL_PASSWORD": password,
		"KAFKA_TLS": "true", "KAFKA_TLS_CA_CERT": ca,
	} {
		tb.Setenv(name, value)
	}
}

// AssertNoSecret fails the test if text, what a program logged or printed,
// holds the listener's password or any of others (say, a wrong one a test
// tried).
func (k SASLKafka) AssertNoSecret(tb testing.TB, what, text string, others ...string) {
	tb.Helper()
	for _, secret := range append([]string{k.Password}, others...) {
		if secret != "" && strings.Contains(text, secret) {
			tb.Errorf("%s contains a password (%d characters)", what, len(secret))
		}
	}
}
