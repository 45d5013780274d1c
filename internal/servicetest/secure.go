package servicetest

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// Environment variables scripts/with-services sets for the one
// Elasticsearch node that runs with security and HTTPS on (scripts/services
// with ORDERPIPE_ES_SECURITY=true and ORDERPIPE_ES_TLS=true).
const (
	EnvSecureESURL               = "ORDERPIPE_TEST_SECURE_ES_URL"
	EnvSecureESCACert            = "ORDERPIPE_TEST_SECURE_ES_CA_CERT"
	EnvSecureESUsername          = "ORDERPIPE_TEST_SECURE_ES_USERNAME"
	EnvSecureESPassword          = "ORDERPIPE_TEST_SECURE_ES_PASSWORD"
	EnvSecureESConsumerPassword  = "ORDERPIPE_TEST_SECURE_ES_CONSUMER_PASSWORD"
	EnvSecureESLogstashPassword  = "ORDERPIPE_TEST_SECURE_ES_LOGSTASH_PASSWORD"
	EnvSecureESDashboardPassword = "ORDERPIPE_TEST_SECURE_ES_DASHBOARD_PASSWORD"
)

// Users of the secured node. Its file realm holds the two writers, both with
// the orderpipe_writer role of deploy/elasticsearch/orderpipe-writer-role.json,
// which grants writing to orders* only: a test that needs to be allowed
// writes to an index named "orders-…", one that needs to be refused to any
// other name.
const (
	ConsumerUser = "orderpipe_consumer"
	LogstashUser = "logstash_writer"
	// DashboardUser holds the orderpipe_reader role of
	// deploy/elasticsearch/orderpipe-reader-role.json alone: read on orders*.
	DashboardUser = "orderpipe_dashboard"
)

// SecureES is the secured Elasticsearch node: HTTPS with a CA made when it
// started, the elastic superuser and the writer users' passwords.
type SecureES struct {
	URL              string
	CACert           string // PEM file
	AdminUser        string // elastic
	AdminPassword    string
	ConsumerPassword string
	LogstashPassword string
	// DashboardPassword is DashboardUser's; empty on a node started before
	// that user existed (see Dashboard).
	DashboardPassword string
}

// SecureElasticsearch returns the secured node, or skips (fails on CI).
func SecureElasticsearch(tb testing.TB) SecureES {
	tb.Helper()
	return SecureES{
		URL:               require(tb, EnvSecureESURL),
		CACert:            require(tb, EnvSecureESCACert),
		AdminUser:         require(tb, EnvSecureESUsername),
		AdminPassword:     require(tb, EnvSecureESPassword),
		ConsumerPassword:  require(tb, EnvSecureESConsumerPassword),
		LogstashPassword:  require(tb, EnvSecureESLogstashPassword),
		DashboardPassword: os.Getenv(EnvSecureESDashboardPassword),
	}
}

// Dashboard returns DashboardUser's password, or skips (fails on CI) on a
// node without that user.
func (s SecureES) Dashboard(tb testing.TB) string {
	tb.Helper()
	return require(tb, EnvSecureESDashboardPassword)
}

// Secrets lists every password of the node, for tests that assert none of
// them reaches a log.
func (s SecureES) Secrets() []string {
	return slices.DeleteFunc([]string{s.AdminPassword, s.ConsumerPassword, s.LogstashPassword, s.DashboardPassword},
		func(p string) bool { return p == "" })
}

// HTTPClient trusts the node's CA and nothing else.
func (s SecureES) HTTPClient(tb testing.TB) *http.Client {
	tb.Helper()
	pem, err := os.ReadFile(s.CACert)
	if err != nil {
		tb.Fatalf("read the secured node's CA: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		tb.Fatalf("no certificate in %s", s.CACert)
	}
	return &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// Do sends one request as user (empty: anonymous) and returns the status
// and the answer. A body that is a string is sent as NDJSON, anything else
// as JSON.
func (s SecureES) Do(tb testing.TB, user, password, method, path string, body any) (int, []byte) {
	tb.Helper()
	var rd io.Reader
	ct := "application/json"
	switch b := body.(type) {
	case nil:
	case string:
		rd, ct = strings.NewReader(b), "application/x-ndjson"
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			tb.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, strings.TrimRight(s.URL, "/")+path, rd)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", ct)
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	res, err := s.HTTPClient(tb).Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		tb.Fatalf("%s %s: read answer: %v", method, path, err)
	}
	return res.StatusCode, data
}

// Admin sends one request as the elastic superuser and fails the test
// unless the status is one of want (any 2xx when want is empty).
func (s SecureES) Admin(tb testing.TB, method, path string, body any, want ...int) []byte {
	tb.Helper()
	status, data := s.Do(tb, s.AdminUser, s.AdminPassword, method, path, body)
	if len(want) == 0 && status/100 == 2 || slices.Contains(want, status) {
		return data
	}
	tb.Fatalf("%s %s as %s: status %d: %s", method, path, s.AdminUser, status, data)
	return nil
}

// OrdersIndex returns an index name of this test's own that the writer role
// covers (orders*), with the orders template installed for it by the
// superuser, both removed at cleanup.
func (s SecureES) OrdersIndex(tb testing.TB, template []byte) string {
	tb.Helper()
	index := Name(tb, "orders-sec")
	s.installTemplate(tb, index, template)
	return index
}

// OtherIndex returns an index of this test's own that the writer role does
// not cover, created by the superuser so that a writer's bulk request is
// refused for writing (indices:data/write/bulk[s]), not for creating it.
func (s SecureES) OtherIndex(tb testing.TB, template []byte) string {
	tb.Helper()
	index := Name(tb, "denied-sec")
	s.installTemplate(tb, index, template)
	s.Admin(tb, http.MethodPut, "/"+index, nil)
	return index
}

func (s SecureES) installTemplate(tb testing.TB, index string, template []byte) {
	tb.Helper()
	s.Admin(tb, http.MethodPut, "/_index_template/"+index, ScopedTemplate(tb, template, []string{index}, nil))
	tb.Cleanup(func() {
		s.Admin(tb, http.MethodDelete, "/"+index, nil, http.StatusOK, http.StatusNotFound)
		s.Admin(tb, http.MethodDelete, "/_index_template/"+index, nil, http.StatusOK, http.StatusNotFound)
	})
}

// Count returns the number of documents in index after a refresh, 0 while
// the index does not exist yet.
func (s SecureES) Count(tb testing.TB, index string) int {
	tb.Helper()
	if status, _ := s.Do(tb, s.AdminUser, s.AdminPassword, http.MethodPost, "/"+index+"/_refresh", nil); status == http.StatusNotFound {
		return 0
	}
	var res struct {
		Count int `json:"count"`
	}
	if err := json.Unmarshal(s.Admin(tb, http.MethodGet, "/"+index+"/_count", nil), &res); err != nil {
		tb.Fatalf("decode count of %s: %v", index, err)
	}
	return res.Count
}

// AssertNoSecret fails the test if text, what a program logged or printed,
// holds any of the node's passwords.
func (s SecureES) AssertNoSecret(tb testing.TB, what, text string) {
	tb.Helper()
	for _, secret := range s.Secrets() {
		if strings.Contains(text, secret) {
			tb.Errorf("%s contains a password (%d characters)", what, len(secret))
		}
	}
}
