package elastic

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

func docs(n int) []Doc {
	out := make([]Doc, n)
	for i := range out {
		out[i] = Doc{ID: fmt.Sprint("id-", i), Version: 1, Source: []byte(`{}`)}
	}
	return out
}

// Send turns every whole-request failure into one outcome per document.
func TestSendMapsWholeRequestFailuresToOutcomes(t *testing.T) {
	tooLarge := &StatusError{Status: 413, Body: "Request Entity Too Large"}
	tests := []struct {
		name      string
		docs      int
		bulk      func(docs []Doc) error // nil: every document indexed
		want      []Result
		wantCause string // of the first Retry outcome
		wantLog   string
	}{
		{"indexed", 3, nil, []Result{Indexed, Indexed, Indexed}, "", ""},
		{"no answer", 2, func([]Doc) error { return errors.New("dial tcp: connection refused") }, []Result{Retry, Retry}, "unavailable", ""},
		{"overloaded", 2, func([]Doc) error { return &StatusError{Status: 429} }, []Result{Retry, Retry}, "too_many_requests", ""},
		{"request refused with 400", 2, func([]Doc) error { return &StatusError{Status: 400, Body: "Malformed action/metadata line"} },
			[]Result{Retry, Retry}, "client_error", "refused the whole bulk request"},
		{"413 split until it fits", 8, func(d []Doc) error {
			if len(d) > 2 {
				return tooLarge
			}
			return nil
		}, []Result{Indexed, Indexed, Indexed, Indexed, Indexed, Indexed, Indexed, Indexed}, "", "splitting it"},
		{"one document too large alone", 4, func(d []Doc) error {
			for _, x := range d {
				if x.ID == "id-2" {
					return fmt.Errorf("send bulk request: %w", tooLarge)
				}
			}
			return nil
		}, []Result{Indexed, Indexed, Rejected, Indexed}, "", "splitting it"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs strings.Builder
			bulk := func(_ context.Context, d []Doc) ([]Outcome, error) {
				if tc.bulk != nil {
					if err := tc.bulk(d); err != nil {
						return nil, err
					}
				}
				out := make([]Outcome, len(d))
				for i := range out {
					out[i] = Outcome{Result: Indexed, Status: 201}
				}
				return out, nil
			}
			got := Send(context.Background(), bulk, docs(tc.docs), slog.New(slog.NewTextHandler(&logs, nil)))
			if len(got) != tc.docs {
				t.Fatalf("%d outcomes for %d documents", len(got), tc.docs)
			}
			for i, o := range got {
				if o.Result != tc.want[i] {
					t.Errorf("document %d: %v, want %v (%s)", i, o.Result, tc.want[i], o.Reason)
				}
				if o.Result == Retry && o.Cause() != tc.wantCause {
					t.Errorf("document %d: cause %q, want %q", i, o.Cause(), tc.wantCause)
				}
			}
			if !strings.Contains(logs.String(), tc.wantLog) {
				t.Errorf("log lacks %q:\n%s", tc.wantLog, logs.String())
			}
		})
	}
}

// ErrNotFound matches a 404 however deeply it is wrapped, and nothing else.
func TestStatusErrorIsNotFound(t *testing.T) {
	nf := &StatusError{Status: http.StatusNotFound, Body: "no such index"}
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nf, true},
		{fmt.Errorf("open point in time: %w", nf), true},
		{&StatusError{Status: http.StatusBadRequest}, false},
		{errors.New("404"), false},
		{nil, false},
	} {
		if got := errors.Is(tc.err, ErrNotFound); got != tc.want {
			t.Errorf("errors.Is(%v, ErrNotFound) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
