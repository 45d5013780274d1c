package servicetest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"testing"
	"time"
)

// ES sends one request to the Elasticsearch at url, unauthenticated, and
// returns the status and body; a request that gets no answer is status 0
// with the error as body, so a test can tell "down" from "refused". body is
// sent as it is when it is a string or []byte, and as JSON otherwise.
func ES(tb testing.TB, url, method, path string, body any) (int, []byte) {
	tb.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			tb.Fatalf("encode %s %s: %v", method, path, err)
		}
		rd = bytes.NewReader(data)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url+path, rd)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return res.StatusCode, data
}

// ESExpect is ES for a request that must succeed: the test fails unless
// the status is one of want (200 when none is given). It returns the body.
func ESExpect(tb testing.TB, url, method, path string, body any, want ...int) []byte {
	tb.Helper()
	code, data := ES(tb, url, method, path, body)
	if len(want) == 0 {
		want = []int{http.StatusOK}
	}
	if !slices.Contains(want, code) {
		tb.Fatalf("%s %s: status %d, want %v: %s", method, path, code, want, data)
	}
	return data
}

// ScopedTemplate is an index template for this test's own indices: body
// (deploy.OrdersTemplate, mostly; servicetest cannot import deploy, whose
// tests use it) with index_patterns
// replaced by patterns and a priority above the built-in's 200, random, so
// that overlapping patterns of two tests never tie (Elasticsearch refuses
// a second template of one priority whose patterns overlap). edit, when
// set, changes it further. Tests install it under a name of their own, so
// parallel packages never replace each other's templates.
func ScopedTemplate(tb testing.TB, body []byte, patterns []string, edit func(map[string]any)) map[string]any {
	tb.Helper()
	var tmpl map[string]any
	if err := json.Unmarshal(body, &tmpl); err != nil {
		tb.Fatalf("decode the index template: %v", err)
	}
	tmpl["index_patterns"] = patterns
	tmpl["priority"] = 1000 + rand.IntN(1_000_000)
	if edit != nil {
		edit(tmpl)
	}
	return tmpl
}
