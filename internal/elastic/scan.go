package elastic

// Reading the index back, for orderctl verify: every document's version in
// one consistent scan, and a real-time re-read of a few.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// Stored is what verify needs of one indexed order: its external version
// and event time.
type Stored struct {
	Version   int64
	UpdatedAt time.Time
}

// scanPage is how many documents one search_after page fetches.
var scanPage = 5000

// Scan reads the _id, _version and updated_at of every document in the
// client's index through a point in time sorted by _shard_doc, so the scan
// is consistent and needs no fielddata on _id. A missing index is empty
// (exists = false). progress, when not nil, gets (done, total) about once a
// second and at the end; total is -1 when the count failed.
func (c *Client) Scan(ctx context.Context, progress func(done, total int64)) (docs map[string]Stored, exists bool, err error) {
	index := c.index
	var pit struct {
		ID string `json:"id"`
	}
	if err := c.do(ctx, esapi.OpenPointInTimeRequest{Index: []string{index}, KeepAlive: "2m"}, &pit); err != nil {
		if errors.Is(err, ErrNotFound) {
			return map[string]Stored{}, false, nil
		}
		return nil, false, fmt.Errorf("open point in time on %s: %w", index, err)
	}
	defer func() {
		body, _ := json.Marshal(map[string]string{"id": pit.ID})
		_ = c.do(context.WithoutCancel(ctx), esapi.ClosePointInTimeRequest{Body: bytes.NewReader(body)}, nil)
	}()
	var total int64 = -1
	var count struct {
		Count int64 `json:"count"`
	}
	if c.do(ctx, esapi.CountRequest{Index: []string{index}}, &count) == nil {
		total = count.Count
	}
	docs = make(map[string]Stored)
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
		if err := c.do(ctx, esapi.SearchRequest{Body: bytes.NewReader(body)}, &page); err != nil {
			return nil, true, fmt.Errorf("scan %s: %w", index, err)
		}
		if page.PitID != "" {
			pit.ID = page.PitID
		}
		for _, h := range page.Hits.Hits {
			docs[h.ID] = Stored{Version: h.Version, UpdatedAt: h.Source.UpdatedAt}
		}
		if progress != nil && time.Since(last) >= time.Second {
			progress(int64(len(docs)), total)
			last = time.Now()
		}
		if len(page.Hits.Hits) < scanPage {
			break
		}
		after = page.Hits.Hits[len(page.Hits.Hits)-1].Sort
	}
	if progress != nil {
		progress(int64(len(docs)), int64(len(docs)))
	}
	return docs, true, nil
}

// Fetch reads the given ids again (mget, real time), for re-checking
// differences while a consumer catches up. Ids not in the index are absent
// from the result.
func (c *Client) Fetch(ctx context.Context, ids []string) (map[string]Stored, error) {
	out := make(map[string]Stored, len(ids))
	for len(ids) > 0 {
		n := min(len(ids), 1000)
		body, _ := json.Marshal(map[string]any{"ids": ids[:n]})
		ids = ids[n:]
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
		err := c.do(ctx, esapi.MgetRequest{Index: c.index, Body: bytes.NewReader(body), SourceIncludes: []string{"updated_at"}}, &got)
		if errors.Is(err, ErrNotFound) {
			continue // index gone: nothing found
		}
		if err != nil {
			return nil, fmt.Errorf("fetch documents from %s: %w", c.index, err)
		}
		for _, d := range got.Docs {
			if d.Found {
				out[d.ID] = Stored{Version: d.Version, UpdatedAt: d.Source.UpdatedAt}
			}
		}
	}
	return out, nil
}
