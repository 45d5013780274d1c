package elastic

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// Doc is one document to index: Source is sent as is, so the stored
// _source is byte-identical to the Kafka message (what Logstash indexes too)
// and a strict mapping sees every field the producer wrote.
type Doc struct {
	ID      string
	Version int
	Source  []byte
}

// Result classifies what Elasticsearch did with one document.
type Result int

const (
	// Retry: not stored, for a reason waiting may fix (per-item 429 or 5xx,
	// or the whole request failing). Send it again later.
	Retry Result = iota
	// Indexed: stored (2xx).
	Indexed
	// Conflict: 409 under external versioning, so Elasticsearch already holds
	// this version or a newer one. The document is handled.
	Conflict
	// Rejected: Elasticsearch will never take this document: a 4xx whose
	// error type says the document itself is at fault (a mapping or parse
	// error). It belongs in a dead-letter queue. A 4xx about the index or
	// the cluster (closed or missing index, a block) is Retry.
	Rejected
)

func (r Result) String() string {
	switch r {
	case Indexed:
		return "indexed"
	case Conflict:
		return "conflict"
	case Rejected:
		return "rejected"
	}
	return "retry"
}

// Outcome is the answer for one Doc.
type Outcome struct {
	Result Result
	Status int
	// Reason is Elasticsearch's error type and reason, "" when indexed.
	Reason string
}

// AppendBulkBody appends the NDJSON index actions for docs to buf.
// Sources spanning several lines are compacted, which only drops whitespace
// between tokens: a raw newline would end the action early.
func AppendBulkBody(buf []byte, index string, docs []Doc) []byte {
	for _, d := range docs {
		buf = append(buf, `{"index":{"_index":`...)
		buf = strconv.AppendQuote(buf, index)
		buf = append(buf, `,"_id":`...)
		buf = strconv.AppendQuote(buf, d.ID)
		buf = append(buf, `,"version":`...)
		buf = strconv.AppendInt(buf, int64(d.Version), 10)
		buf = append(buf, `,"version_type":"external"}}`+"\n"...)
		src := bytes.TrimSpace(d.Source)
		if bytes.ContainsAny(src, "\r\n") {
			var b bytes.Buffer
			if err := json.Compact(&b, src); err == nil {
				src = b.Bytes()
			}
		}
		buf = append(buf, src...)
		buf = append(buf, '\n')
	}
	return buf
}

// bulkFilterPath keeps Elasticsearch from echoing ids, shards and sequence
// numbers for every item: only what classification needs comes back.
var bulkFilterPath = []string{
	"errors",
	"items.*.status",
	"items.*.error.type",
	"items.*.error.reason",
	"items.*.error.caused_by.type",
	"items.*.error.caused_by.reason",
}

// Bulk indexes docs in one _bulk request with _id = Doc.ID and external
// version Doc.Version, and returns one Outcome per doc, in order. A non-nil
// error means the request as a whole failed (connection refused, timeout,
// 429, 5xx, an unreadable answer): nothing can be assumed stored, and every
// doc should be retried.
func (c *Client) Bulk(ctx context.Context, docs []Doc) ([]Outcome, error) {
	if len(docs) == 0 {
		return nil, nil
	}
	body := AppendBulkBody(make([]byte, 0, 1024*len(docs)), c.index, docs)
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	noSource := false
	res, err := esapi.BulkRequest{
		Body:                 bytes.NewReader(body),
		FilterPath:           bulkFilterPath,
		IncludeSourceOnError: &noSource,
	}.Do(ctx, c.es)
	if err != nil {
		return nil, fmt.Errorf("send bulk request: %w", TransportError(err))
	}
	defer res.Body.Close()
	if res.IsError() {
		return nil, fmt.Errorf("send bulk request: %w", statusError(res))
	}
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, fmt.Errorf("read bulk response: %w", err)
	}
	return DecodeBulkResponse(data, len(docs))
}

type bulkResponse struct {
	Errors bool                  `json:"errors"`
	Items  []map[string]bulkItem `json:"items"`
}

type bulkItem struct {
	Status int        `json:"status"`
	Error  *itemError `json:"error"`
}

type itemError struct {
	Type     string     `json:"type"`
	Reason   string     `json:"reason"`
	CausedBy *itemError `json:"caused_by"`
}

func (e *itemError) String() string {
	if e == nil {
		return ""
	}
	s := e.Type + ": " + e.Reason
	if e.CausedBy != nil && e.CausedBy.Reason != "" && e.CausedBy.Reason != e.Reason {
		s += " (caused by " + e.CausedBy.Type + ": " + e.CausedBy.Reason + ")"
	}
	return s
}

// DecodeBulkResponse classifies the items of a _bulk answer. want is the
// number of documents sent; an answer with another count cannot be matched to
// the documents and is an error (retry them all).
func DecodeBulkResponse(data []byte, want int) ([]Outcome, error) {
	var resp bulkResponse
	if err := json.Unmarshal(data, &resp); err != nil {
		return nil, fmt.Errorf("decode bulk response: %w", err)
	}
	if len(resp.Items) != want {
		return nil, fmt.Errorf("decode bulk response: %d items for %d documents", len(resp.Items), want)
	}
	out := make([]Outcome, want)
	for i, m := range resp.Items {
		if len(m) != 1 {
			return nil, fmt.Errorf("decode bulk response: item %d has %d actions", i, len(m))
		}
		for _, it := range m {
			out[i] = classify(it)
		}
	}
	return out, nil
}

// documentErrors are the item error types that blame the document itself:
// sending it again can never succeed, whatever an operator does to the
// cluster. Every other 4xx (index_closed_exception, index_not_found_exception,
// cluster_block_exception, invalid_index_name_exception, ...) is about the
// index or the cluster and is retried, so that fixing the cluster resumes the
// stream without losing a document to the dead-letter topic.
var documentErrors = map[string]bool{
	"mapper_parsing_exception":            true,
	"strict_dynamic_mapping_exception":    true,
	"document_parsing_exception":          true,
	"illegal_argument_exception":          true, // e.g. a field value the mapping cannot take
	"x_content_parse_exception":           true,
	"json_parse_exception":                true,
	"parse_exception":                     true,
	"action_request_validation_exception": true, // e.g. an _id over 512 bytes
}

func classify(it bulkItem) Outcome {
	o := Outcome{Status: it.Status, Reason: it.Error.String()}
	switch s := it.Status; {
	case s >= 200 && s < 300:
		o.Result = Indexed
	case s == http.StatusConflict:
		o.Result = Conflict
	// 401/403 (missing privilege, read-only index block), 408 and 429 are
	// not the document's fault whatever the error type says.
	case s == http.StatusTooManyRequests, s >= 500, s == http.StatusUnauthorized,
		s == http.StatusForbidden, s == http.StatusRequestTimeout:
		o.Result = Retry
	case s >= 400 && it.Error != nil && documentErrors[it.Error.Type]:
		o.Result = Rejected
	default:
		o.Result = Retry
		if o.Reason == "" {
			o.Reason = "unexpected status " + strconv.Itoa(s)
		}
	}
	return o
}
