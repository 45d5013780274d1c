package elastic

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/orderpipe/orderpipe/deploy"
	"github.com/orderpipe/orderpipe/internal/retry"
	"github.com/orderpipe/orderpipe/internal/settings"
	"github.com/orderpipe/orderpipe/internal/trust"
)

// Client is an Elasticsearch connection bound to one index.
type Client struct {
	es      *es.Client
	index   string
	timeout time.Duration
}

// New builds a client. It does not contact Elasticsearch: a consumer must be
// able to start, report why it waits, and connect once Elasticsearch is up.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// The CA goes into our own transport: handed to go-elasticsearch as
	// Config.CACert beside a custom Transport without a TLS config, it
	// panics (elastic-transport-go v8.9.0), so ES_CA_CERT never worked.
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CACert != "" {
		pool, err := trust.CAPool(cfg.CACert, "ES_CA_CERT")
		if err != nil {
			return nil, err
		}
		tlsConfig.RootCAs = pool
	}
	escfg := es.Config{
		Addresses: cfg.Addresses,
		Username:  cfg.Username,
		Password:  cfg.Password,
		APIKey:    cfg.APIKey,
		// The caller retries with backoff and knows which items to send
		// again; the transport's own blind retries would only hide outages
		// from the logs and from /readyz.
		DisableRetry: true,
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost:   16,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			TLSClientConfig:       tlsConfig,
			ResponseHeaderTimeout: cfg.RequestTimeout,
		},
	}
	c, err := es.NewClient(escfg)
	if err != nil {
		return nil, fmt.Errorf("create elasticsearch client: %w", err)
	}
	return &Client{es: c, index: cfg.Index, timeout: cfg.RequestTimeout}, nil
}

// Index is the index documents are written to.
func (c *Client) Index() string { return c.index }

// StatusError is an HTTP answer Elasticsearch gave to a whole request.
type StatusError struct {
	Status int
	Body   string
}

// Error names what to fix for the statuses an operator causes: this is the
// one place that maps an authentication or authorization failure to the
// settings behind it, for the consumer, orderctl and their logs alike. The
// body is Elasticsearch's own, which names the user and the privilege but
// never a credential.
func (e *StatusError) Error() string {
	switch e.Status {
	case http.StatusUnauthorized:
		return fmt.Sprintf("elasticsearch answered 401, authentication failed (check ES_USERNAME and ES_PASSWORD, or ES_API_KEY): %s", e.Body)
	case http.StatusForbidden:
		return fmt.Sprintf("elasticsearch answered 403, the user lacks a privilege (orderpipe's writers need role %s): %s", deploy.WriterRoleName, e.Body)
	}
	return fmt.Sprintf("elasticsearch answered %d: %s", e.Status, e.Body)
}

// Retryable reports whether waiting may fix the request: overload, server
// errors, and authorization (a role can be fixed while the consumer waits).
func (e *StatusError) Retryable() bool {
	return e.Status == http.StatusTooManyRequests || e.Status >= 500 ||
		e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden || e.Status == http.StatusRequestTimeout
}

// ErrForbidden is matched by a StatusError with status 401 or 403.
var ErrForbidden = errors.New("elasticsearch: not authorized")

// ErrUnauthenticated is matched by a StatusError with status 401 only: the
// credentials are wrong or missing, which no role change fixes.
var ErrUnauthenticated = errors.New("elasticsearch: authentication failed")

// ErrNotFound is matched by a StatusError with status 404.
var ErrNotFound = errors.New("elasticsearch: not found")

// Is makes errors.Is(err, ErrForbidden) true for 401 and 403, and
// errors.Is(err, ErrUnauthenticated) true for 401, and errors.Is(err,
// ErrNotFound) true for 404.
func (e *StatusError) Is(target error) bool {
	switch target {
	case ErrForbidden:
		return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden
	case ErrUnauthenticated:
		return e.Status == http.StatusUnauthorized
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	}
	return false
}

// TransportError adds what to fix to a request that got no answer because
// the server's certificate was not trusted; other errors come back as they
// are. Every request orderpipe makes to Elasticsearch goes through it, so a
// wrong ES_CA_CERT reads the same everywhere.
func TransportError(err error) error {
	var hostname x509.HostnameError
	switch {
	case errors.As(err, &hostname):
		return fmt.Errorf("%w (elasticsearch's certificate does not name the host in ES_ADDRESSES)", err)
	case trust.IsCertificateError(err):
		return fmt.Errorf("%w (elasticsearch's certificate is not signed by the CA in ES_CA_CERT, or by a system root when ES_CA_CERT is empty)", err)
	}
	return err
}

// EnsureTemplate installs body as composable index template name (PUT
// _index_template is an upsert, so running it at every start is idempotent).
// An unreachable or overloaded Elasticsearch is waited for with capped
// exponential backoff, each attempt logged, until ctx ends. A template
// Elasticsearch refuses (400) or a user not allowed to manage templates
// (401/403, matched by ErrForbidden) is returned at once: waiting fixes
// neither.
func (c *Client) EnsureTemplate(ctx context.Context, name string, body []byte, log *slog.Logger) error {
	err := c.untilAnswered(ctx, "template "+name, log, func() error { return c.putTemplate(ctx, name, body) })
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("install index template %s: %w", name, err)
	}
	return err
}

// untilAnswered is the start-up wait of every request a program cannot go
// on without: op is tried again with capped exponential backoff, each
// attempt logged, while Elasticsearch is unreachable or overloaded. What
// waiting cannot fix comes back at once: a status that is not retryable
// (a request Elasticsearch refuses), 401/403 (ErrForbidden), an untrusted
// certificate, and a setting to change (settings.ErrInvalid).
func (c *Client) untilAnswered(ctx context.Context, what string, log *slog.Logger, op func() error) error {
	_, err := retry.Do(ctx, retry.Backoff{Initial: 250 * time.Millisecond, Max: 10 * time.Second}, func() (struct{}, error) {
		err := op()
		var se *StatusError
		if err != nil && (errors.As(err, &se) && !se.Retryable() || errors.Is(err, ErrForbidden) ||
			trust.IsCertificateError(err) || errors.Is(err, settings.ErrInvalid)) {
			return struct{}{}, retry.Permanent(err)
		}
		return struct{}{}, err
	}, func(attempt int, err error, wait time.Duration) {
		log.Warn("elasticsearch not ready, retrying", "for", what, "attempt", attempt, "retry_in", wait.String(), "error", err.Error())
	})
	return err
}

func (c *Client) putTemplate(ctx context.Context, name string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := c.do(ctx, esapi.IndicesPutIndexTemplateRequest{Name: name, Body: bytes.NewReader(body)}, nil); err != nil {
		return fmt.Errorf("install index template %s: %w", name, err)
	}
	return nil
}
