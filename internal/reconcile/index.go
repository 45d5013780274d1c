package reconcile

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/orderpipe/orderpipe/internal/elastic"
)

// Doc is what verify needs of one indexed order: its external version and
// event time.
type Doc struct {
	Version   int64
	UpdatedAt time.Time
}

// scanPage is how many documents one search_after page fetches.
var scanPage = 5000

// ScanIndex reads the _id, _version and updated_at of every document in
// index through a point in time sorted by _shard_doc, so the scan is
// consistent and needs no fielddata on _id. A missing index is empty
// (exists = false).
func ScanIndex(ctx context.Context, client *es.Client, index string, progress Progress) (docs map[string]Doc, exists bool, err error) {
	// Transport errors go through elastic.TransportError, so an untrusted
	// certificate names ES_CA_CERT here as everywhere else.
	res, err := esapi.OpenPointInTimeRequest{Index: []string{index}, KeepAlive: "2m"}.Do(ctx, client)
	if err != nil {
		return nil, false, fmt.Errorf("open point in time on %s: %w", index, elastic.TransportError(err))
	}
	var pit struct {
		ID string `json:"id"`
	}
	if err := decodeResponse(res, &pit); err != nil {
		if isNotFound(err) {
			return map[string]Doc{}, false, nil
		}
		return nil, false, fmt.Errorf("open point in time on %s: %w", index, err)
	}
	defer func() {
		body, _ := json.Marshal(map[string]string{"id": pit.ID})
		if res, err := (esapi.ClosePointInTimeRequest{Body: bytes.NewReader(body)}).Do(context.WithoutCancel(ctx), client); err == nil {
			res.Body.Close()
		}
	}()
	var total int64 = -1
	if res, err := (esapi.CountRequest{Index: []string{index}}).Do(ctx, client); err == nil {
		var c struct {
			Count int64 `json:"count"`
		}
		if decodeResponse(res, &c) == nil {
			total = c.Count
		}
	}
	docs = make(map[string]Doc)
	var after []any
	last := time.Now()
	for {
		q := map[string]any{
			"pit":              map[string]any{"id": pit.ID, "keep_alive": "2m"},
			"size":             scanPage,
			"sort":             []any{map[string]any{"_shard_doc": "asc"}},
			"version":          true,
			"_source":          []string{"updated_at"},
			"track_total_hits": false,
		}
		if after != nil {
			q["search_after"] = after
		}
		body, _ := json.Marshal(q)
		res, err := esapi.SearchRequest{Body: bytes.NewReader(body)}.Do(ctx, client)
		if err != nil {
			return nil, true, fmt.Errorf("scan %s: %w", index, elastic.TransportError(err))
		}
		var page struct {
			PitID string `json:"pit_id"`
			Hits  struct {
				Hits []struct {
					ID      string `json:"_id"`
					Version int64  `json:"_version"`
					Source  struct {
						UpdatedAt time.Time `json:"updated_at"`
					} `json:"_source"`
					Sort []any `json:"sort"`
				} `json:"hits"`
			} `json:"hits"`
		}
		if err := decodeResponse(res, &page); err != nil {
			return nil, true, fmt.Errorf("scan %s: %w", index, err)
		}
		if page.PitID != "" {
			pit.ID = page.PitID
		}
		for _, h := range page.Hits.Hits {
			docs[h.ID] = Doc{Version: h.Version, UpdatedAt: h.Source.UpdatedAt}
		}
		if progress != nil && time.Since(last) >= time.Second {
			progress("elasticsearch", int64(len(docs)), total)
			last = time.Now()
		}
		if len(page.Hits.Hits) < scanPage {
			break
		}
		after = page.Hits.Hits[len(page.Hits.Hits)-1].Sort
	}
	if progress != nil {
		progress("elasticsearch", int64(len(docs)), int64(len(docs)))
	}
	return docs, true, nil
}

// FetchDocs reads the given ids again (mget, real time), for re-checking
// differences while a consumer catches up. Ids not in the index are absent
// from the result.
func FetchDocs(ctx context.Context, client *es.Client, index string, ids []string) (map[string]Doc, error) {
	out := make(map[string]Doc, len(ids))
	for len(ids) > 0 {
		n := min(len(ids), 1000)
		body, _ := json.Marshal(map[string]any{"ids": ids[:n]})
		ids = ids[n:]
		res, err := esapi.MgetRequest{Index: index, Body: bytes.NewReader(body), SourceIncludes: []string{"updated_at"}}.Do(ctx, client)
		if err != nil {
			return nil, fmt.Errorf("fetch documents from %s: %w", index, elastic.TransportError(err))
		}
		var got struct {
			Docs []struct {
				ID      string `json:"_id"`
				Found   bool   `json:"found"`
				Version int64  `json:"_version"`
				Source  struct {
					UpdatedAt time.Time `json:"updated_at"`
				} `json:"_source"`
			} `json:"docs"`
		}
		if err := decodeResponse(res, &got); err != nil {
			if isNotFound(err) {
				continue // index gone: nothing found
			}
			return nil, fmt.Errorf("fetch documents from %s: %w", index, err)
		}
		for _, d := range got.Docs {
			if d.Found {
				out[d.ID] = Doc{Version: d.Version, UpdatedAt: d.Source.UpdatedAt}
			}
		}
	}
	return out, nil
}

// isNotFound reports whether err is Elasticsearch answering 404.
func isNotFound(err error) bool {
	var se *elastic.StatusError
	return errors.As(err, &se) && se.Status == http.StatusNotFound
}

// decodeResponse decodes a 2xx answer into v; any other answer is an
// *elastic.StatusError.
func decodeResponse(res *esapi.Response, v any) error {
	defer res.Body.Close()
	if res.IsError() {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 2048))
		return &elastic.StatusError{Status: res.StatusCode, Body: strings.TrimSpace(string(b))}
	}
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		return fmt.Errorf("decode response: %w", err)
	}
	return nil
}
