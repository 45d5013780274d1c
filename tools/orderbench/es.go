package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// esClient is the few raw Elasticsearch calls the bench needs. It speaks
// plain HTTP rather than through internal/elastic so that the ceiling loop
// and the latency probe measure Elasticsearch, not orderpipe's client.
type esClient struct {
	url  string
	http *http.Client
}

func newESClient(url string) *esClient {
	return &esClient{url: url, http: &http.Client{
		Timeout: 2 * time.Minute,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 16,
		},
	}}
}

// do sends one request and decodes a 2xx answer into out (when non-nil).
func (e *esClient) do(ctx context.Context, method, path string, body []byte, out any) error {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, e.url+path, r)
	if err != nil {
		return fmt.Errorf("build %s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		if len(data) > 500 {
			data = data[:500]
		}
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

func (e *esClient) putTemplate(ctx context.Context, name string, body []byte) error {
	return e.do(ctx, http.MethodPut, "/_index_template/"+url.PathEscape(name), body, nil)
}

func (e *esClient) deleteTemplate(ctx context.Context, name string) error {
	return e.do(ctx, http.MethodDelete, "/_index_template/"+url.PathEscape(name), nil, nil)
}

// deleteIndex deletes an index or a wildcard of them; none matching is fine.
func (e *esClient) deleteIndex(ctx context.Context, index string) error {
	return e.do(ctx, http.MethodDelete, "/"+index+"?ignore_unavailable=true&allow_no_indices=true", nil, nil)
}

// count refreshes index and returns how many documents it holds.
func (e *esClient) count(ctx context.Context, index string) (int64, error) {
	if err := e.do(ctx, http.MethodPost, "/"+index+"/_refresh", nil, nil); err != nil {
		return 0, err
	}
	var out struct {
		Count int64 `json:"count"`
	}
	err := e.do(ctx, http.MethodGet, "/"+index+"/_count", nil, &out)
	return out.Count, err
}

// bulk sends one NDJSON _bulk body and fails if any item failed. The filter
// keeps the answer to the errors flag unless something went wrong.
func (e *esClient) bulk(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		e.url+"/_bulk?filter_path=errors,items.*.error.type,items.*.error.reason", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build bulk: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := e.http.Do(req)
	if err != nil {
		return fmt.Errorf("bulk: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("bulk: read answer: %w", err)
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("bulk: %s: %.300s", resp.Status, data)
	}
	var out struct {
		Errors bool `json:"errors"`
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return fmt.Errorf("bulk: decode answer: %w", err)
	}
	if out.Errors {
		return fmt.Errorf("bulk: items failed: %.300s", data)
	}
	return nil
}

// searchIDs returns which of ids are searchable in index now: a terms query
// on order_id without _source, answered with nothing but the ids.
func (e *esClient) searchIDs(ctx context.Context, index string, ids []string) ([]string, error) {
	body, err := json.Marshal(map[string]any{
		"_source":          false,
		"size":             len(ids),
		"track_total_hits": false,
		"query":            map[string]any{"terms": map[string]any{"order_id": ids}},
	})
	if err != nil {
		return nil, fmt.Errorf("encode search: %w", err)
	}
	var out struct {
		Hits struct {
			Hits []struct {
				ID string `json:"_id"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := e.do(ctx, http.MethodPost, "/"+index+"/_search?ignore_unavailable=true&filter_path=hits.hits._id", body, &out); err != nil {
		return nil, err
	}
	seen := make([]string, len(out.Hits.Hits))
	for i, h := range out.Hits.Hits {
		seen[i] = h.ID
	}
	return seen, nil
}
