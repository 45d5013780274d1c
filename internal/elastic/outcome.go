package elastic

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
)

// BulkFunc sends docs in one _bulk request; (*Client).Bulk is one.
type BulkFunc func(ctx context.Context, docs []Doc) ([]Outcome, error)

// Send sends docs through bulk and returns exactly one Outcome per doc: it
// turns a failure of the whole request into outcomes, so callers only read
// outcomes and this package stays the one place that says what an answer
// from Elasticsearch means.
//
//   - 413 (over http.max_content_length): the request is split in halves
//     until it fits, since sending it again as is would fail for ever; a
//     single document still too large is Rejected, as no request can carry
//     it.
//   - 400 for the whole request blames the request, not a document: a body
//     built wrongly or a cluster that does not understand it. Every
//     document is Retry (dead-lettering them would throw good documents
//     away) and the refusal is logged as an error for an operator.
//   - anything else (connection refused, timeout, 429, 5xx): Retry.
//
// log may be nil.
func Send(ctx context.Context, bulk BulkFunc, docs []Doc, log *slog.Logger) []Outcome {
	out := make([]Outcome, len(docs))
	send(ctx, bulk, docs, out, log)
	return out
}

func send(ctx context.Context, bulk BulkFunc, docs []Doc, out []Outcome, log *slog.Logger) {
	if len(docs) == 0 {
		return
	}
	res, err := bulk(ctx, docs)
	if err == nil {
		copy(out, res)
		return
	}
	status := StatusOf(err)
	switch {
	case status == http.StatusRequestEntityTooLarge && len(docs) > 1 && ctx.Err() == nil:
		half := len(docs) / 2
		if log != nil {
			log.Warn("bulk request too large for elasticsearch, splitting it", "documents", len(docs), "error", err.Error())
		}
		send(ctx, bulk, docs[:half], out[:half], log)
		send(ctx, bulk, docs[half:], out[half:], log)
		return
	case status == http.StatusRequestEntityTooLarge:
		out[0] = Outcome{Result: Rejected, Status: status, Reason: "document too large for one bulk request: " + err.Error()}
		return
	case status == http.StatusBadRequest && log != nil:
		log.Error("elasticsearch refused the whole bulk request (400); retrying it, but this needs a fix in the consumer or the cluster, not waiting",
			"documents", len(docs), "error", err.Error())
	}
	for k := range docs {
		out[k] = Outcome{Result: Retry, Reason: err.Error(), Status: status}
	}
}

// StatusOf is the HTTP status of a *StatusError in err's chain, 0 when there
// is none (the request never got an answer).
func StatusOf(err error) int {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Status
	}
	return 0
}

// Cause names why a Retry outcome is to be retried, for metrics labels:
// too_many_requests, server_error, forbidden, unavailable (no answer) or
// client_error (a closed or missing index, a cluster block, a 400 for the
// request).
func (o Outcome) Cause() string {
	switch {
	case o.Status == http.StatusTooManyRequests:
		return "too_many_requests"
	case o.Status >= 500:
		return "server_error"
	case o.Status == http.StatusUnauthorized || o.Status == http.StatusForbidden:
		return "forbidden"
	case o.Status == 0:
		return "unavailable"
	case o.Status >= 400:
		return "client_error"
	}
	return "other"
}
