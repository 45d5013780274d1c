// Package elastic is orderpipe's Elasticsearch client: connection settings
// read from the environment, installing the index template, and a bulk call
// that reports one outcome per document.
//
// It deliberately does not use esutil.BulkIndexer. That helper flushes on
// its own schedule and reports per-item failures through callbacks after the
// fact, so a caller cannot hold a Kafka offset until exactly those documents
// are indexed, nor retry just the items ES rejected with 429 inside an HTTP
// 200. Bulk here sends one request, classifies every item (Indexed,
// Conflict, Rejected, Retry) and leaves the retry policy to the caller.
package elastic

import (
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/orderpipe/orderpipe/deploy"
	"github.com/orderpipe/orderpipe/internal/settings"
)

// Config is how a program reaches Elasticsearch. Errors from Validate are
// *settings.Error, so a program maps every bad variable, Kafka's or
// Elasticsearch's, to one exit code with one errors.Is(err, settings.ErrInvalid).
type Config struct {
	Addresses      []string      `envconfig:"ES_ADDRESSES" default:"http://localhost:9200" desc:"comma-separated Elasticsearch URLs"`
	Username       string        `envconfig:"ES_USERNAME" desc:"basic-auth user (empty: no basic auth)"`
	Password       string        `envconfig:"ES_PASSWORD" desc:"basic-auth password (masked in logs)"`
	APIKey         string        `envconfig:"ES_API_KEY" desc:"base64 API key; used instead of ES_USERNAME/ES_PASSWORD (masked in logs)"`
	CACert         string        `envconfig:"ES_CA_CERT" desc:"PEM file of the CA that signed Elasticsearch's certificate (empty: system roots)"`
	Index          string        `envconfig:"ES_INDEX" default:"orders" desc:"index the orders are written to; one the index template governs, or the program exits 2"`
	RequestTimeout time.Duration `envconfig:"ES_REQUEST_TIMEOUT" default:"30s" desc:"longest one Elasticsearch request may take before it is retried"`
}

// Validate checks what envconfig cannot and names the variable at fault.
func (c Config) Validate() error {
	if len(c.Addresses) == 0 {
		return &settings.Error{Variable: "ES_ADDRESSES", Reason: "at least one URL is required"}
	}
	for _, a := range c.Addresses {
		u, err := url.Parse(a)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return &settings.Error{Variable: "ES_ADDRESSES", Reason: fmt.Sprintf("%q is not an http(s) URL", a)}
		}
	}
	if c.APIKey != "" && c.Username != "" {
		return &settings.Error{Variable: "ES_API_KEY", Reason: "set either ES_API_KEY or ES_USERNAME/ES_PASSWORD, not both"}
	}
	if c.Password != "" && c.Username == "" {
		return &settings.Error{Variable: "ES_USERNAME", Reason: "required when ES_PASSWORD is set"}
	}
	if c.CACert != "" {
		if _, err := os.Stat(c.CACert); err != nil {
			return &settings.Error{Variable: "ES_CA_CERT", Reason: err.Error()}
		}
	}
	if c.Index == "" || c.Index != strings.ToLower(c.Index) || strings.ContainsAny(c.Index, `\/*?"<>| ,#:`) || strings.HasPrefix(c.Index, "_") || strings.HasPrefix(c.Index, "-") {
		return &settings.Error{Variable: "ES_INDEX", Reason: fmt.Sprintf("%q is not a valid index name (lower case, no \\/*?\"<>| ,#: and no leading _ or -)", c.Index)}
	}
	if c.RequestTimeout <= 0 {
		return &settings.Error{Variable: "ES_REQUEST_TIMEOUT", Reason: "must be positive"}
	}
	return nil
}

// TemplateConfig is which index template a program installs: the consumer
// at start and orderctl setup both do, so they read one declaration and
// install the same template under the same name by default.
type TemplateConfig struct {
	TemplateName string `envconfig:"ES_TEMPLATE_NAME" default:"orders" desc:"name the index template is installed under"`
	TemplateFile string `envconfig:"ES_TEMPLATE_FILE" desc:"index template JSON to install instead of the built-in deploy/elasticsearch/orders-template.json; its mapping must be \"dynamic\": \"strict\""`
}

// Validate checks the name and, when one is given, that the file exists, so
// a typo is a start-up error rather than a failure after connecting.
func (c TemplateConfig) Validate() error {
	if c.TemplateName == "" {
		return &settings.Error{Variable: "ES_TEMPLATE_NAME", Reason: "must not be empty"}
	}
	if c.TemplateFile != "" {
		if _, err := os.Stat(c.TemplateFile); err != nil {
			return &settings.Error{Variable: "ES_TEMPLATE_FILE", Reason: err.Error()}
		}
	}
	return nil
}

// Load reads the template every program holds ES_INDEX to: ES_TEMPLATE_FILE,
// or the built-in deploy/elasticsearch/orders-template.json. It returns the
// body to install and the parsed template; a file that cannot be read or
// relied on (ParseTemplate) is an error that names ES_TEMPLATE_FILE.
func (c TemplateConfig) Load() (body []byte, t Template, err error) {
	body = deploy.OrdersTemplate
	if c.TemplateFile != "" {
		if body, err = os.ReadFile(c.TemplateFile); err != nil {
			return nil, Template{}, &settings.Error{Variable: "ES_TEMPLATE_FILE", Reason: err.Error()}
		}
	}
	t, err = ParseTemplate(c.TemplateName, body)
	return body, t, err
}
