// Package servicetest hands tests the real Kafka and Elasticsearch that
// `make test` starts once (scripts/with-services) and announces by environment,
// and the fixtures tests across packages share (generated order streams,
// topics read back whole, a log buffer safe to poll).
//
// Two Kafka + Elasticsearch pairs do not fit the two cores orderpipe is tested
// on, so every package shares one pair; isolation comes from names instead:
// each test asks Name for its own topics, groups and indices, which lets test
// packages run in parallel. When the variables are missing a local run skips
// the integration tests with a loud message; with CI=true it fails instead, so
// a broken harness can never turn CI green by skipping.
package servicetest

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"regexp"
	"strings"
	"testing"
)

// Environment variables set by scripts/with-services.
const (
	EnvKafkaBrokers = "ORDERPIPE_TEST_KAFKA_BROKERS"
	EnvESURL        = "ORDERPIPE_TEST_ES_URL"
	EnvServicesDir  = "ORDERPIPE_TEST_SERVICES_DIR"
)

// KafkaBrokers returns the real broker's addresses, or skips (fails on CI).
func KafkaBrokers(tb testing.TB) []string {
	tb.Helper()
	return strings.Split(require(tb, EnvKafkaBrokers), ",")
}

// ElasticsearchURL returns the real Elasticsearch's URL, or skips (fails on CI).
func ElasticsearchURL(tb testing.TB) string {
	tb.Helper()
	return require(tb, EnvESURL)
}

// ServicesDir returns the state folder of scripts/services, for tests that
// stop and start a server on purpose.
func ServicesDir(tb testing.TB) string {
	tb.Helper()
	return require(tb, EnvServicesDir)
}

func require(tb testing.TB, name string) string {
	tb.Helper()
	if v := os.Getenv(name); v != "" {
		return v
	}
	if os.Getenv("CI") == "true" {
		tb.Fatalf("%s is not set: on CI the integration tests must run against the real services (run them through `make test`)", name)
	}
	tb.Skipf("SKIPPED: %s is not set; run `make test` to test against real Kafka and Elasticsearch", name)
	return ""
}

var unsafeChars = regexp.MustCompile(`[^a-z0-9]+`)

// Name returns a name unique to this test run, valid as a Kafka topic, a
// consumer group and an Elasticsearch index (lower case, no slashes).
func Name(tb testing.TB, prefix string) string {
	tb.Helper()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatalf("read random bytes: %v", err)
	}
	test := strings.Trim(unsafeChars.ReplaceAllString(strings.ToLower(tb.Name()), "-"), "-")
	if len(test) > 60 {
		test = test[:60]
	}
	return prefix + "-" + test + "-" + hex.EncodeToString(b[:])
}

// FreeAddr returns a loopback host:port that nothing listens on now: a port
// bound a moment ago and released, for a server a test starts there later
// or for an address that must refuse connections.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("find a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
