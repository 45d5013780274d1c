package elastic

// The requests orderpipe makes besides bulk and the template upsert:
// readiness, the template read-back and the security objects of orderctl
// setup. They all go through do, so every answer is turned into a result,
// a *StatusError or a TransportError the same way.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// statusError reads a failed response into a *StatusError: the one place an
// esapi answer becomes an error.
func statusError(res *esapi.Response) *StatusError {
	body, _ := io.ReadAll(io.LimitReader(res.Body, 2048))
	return &StatusError{Status: res.StatusCode, Body: strings.TrimSpace(string(body))}
}

// do sends req and decodes a 2xx answer into v (nil: the body is
// discarded). A request that got no answer comes back through
// TransportError, any other status as a *StatusError.
func (c *Client) do(ctx context.Context, req esapi.Request, v any) error {
	res, err := req.Do(ctx, c.es)
	if err != nil {
		return TransportError(err)
	}
	defer res.Body.Close()
	if res.IsError() {
		return statusError(res)
	}
	if v == nil {
		_, _ = io.Copy(io.Discard, res.Body)
		return nil
	}
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		return fmt.Errorf("decode response: %w", err)
	}
	return nil
}

// Health asks whether the cluster is at least yellow, waiting up to 5 s on
// the server's side; a cluster that is not is a *StatusError (408).
func (c *Client) Health(ctx context.Context) error {
	if err := c.do(ctx, esapi.ClusterHealthRequest{WaitForStatus: "yellow", Timeout: 5 * time.Second}, nil); err != nil {
		return fmt.Errorf("cluster health: %w", err)
	}
	return nil
}

// IndexTemplate returns the stored body of composable index template name,
// and false when there is no such template.
func (c *Client) IndexTemplate(ctx context.Context, name string) (body json.RawMessage, found bool, err error) {
	var got struct {
		IndexTemplates []struct {
			IndexTemplate json.RawMessage `json:"index_template"`
		} `json:"index_templates"`
	}
	err = c.do(ctx, esapi.IndicesGetIndexTemplateRequest{Name: name}, &got)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("get index template %s: %w", name, err)
	case len(got.IndexTemplates) != 1:
		return nil, false, nil
	}
	return got.IndexTemplates[0].IndexTemplate, true, nil
}

// ChangePassword sets user's password; body is a change-password request.
func (c *Client) ChangePassword(ctx context.Context, user string, body []byte) error {
	if err := c.do(ctx, esapi.SecurityChangePasswordRequest{Username: user, Body: bytes.NewReader(body)}, nil); err != nil {
		return fmt.Errorf("set %s password: %w", user, err)
	}
	return nil
}

// PutRole creates or replaces role name and reports whether it was new.
func (c *Client) PutRole(ctx context.Context, name string, body []byte) (created bool, err error) {
	var role struct {
		Role struct {
			Created bool `json:"created"`
		} `json:"role"`
	}
	if err := c.do(ctx, esapi.SecurityPutRoleRequest{Name: name, Body: bytes.NewReader(body)}, &role); err != nil {
		return false, fmt.Errorf("put role %s: %w", name, err)
	}
	return role.Role.Created, nil
}

// PutUser creates or replaces user name and reports whether it was new.
func (c *Client) PutUser(ctx context.Context, name string, body []byte) (created bool, err error) {
	var user struct {
		Created bool `json:"created"`
	}
	if err := c.do(ctx, esapi.SecurityPutUserRequest{Username: name, Body: bytes.NewReader(body)}, &user); err != nil {
		return false, fmt.Errorf("put user %s: %w", name, err)
	}
	return user.Created, nil
}

// Search runs body (a search request) on the client's index and returns
// Elasticsearch's answer as it is, for callers that build their own queries
// and read their own aggregations (internal/orderstats). A missing index is
// a *StatusError matched by ErrNotFound.
func (c *Client) Search(ctx context.Context, body []byte) (json.RawMessage, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var raw json.RawMessage
	if err := c.do(ctx, esapi.SearchRequest{Index: []string{c.index}, Body: bytes.NewReader(body)}, &raw); err != nil {
		return nil, fmt.Errorf("search %s: %w", c.index, err)
	}
	return raw, nil
}
