package main

// The Kibana part of orderctl setup: wait for Kibana, then import the
// saved objects.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime/multipart"
	"net/http"
	"path"
	"time"
)

// kibanaRequestTimeout bounds each request to Kibana, the import included.
var kibanaRequestTimeout = 2 * time.Minute

// kibana imports saved objects through Kibana's HTTP API.
type kibana struct {
	url                string
	username, password string
	apiKey             string
	client             *http.Client
	pollEvery          time.Duration
}

func (k kibana) request(ctx context.Context, method, path, contentType string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, k.url+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("kbn-xsrf", "true")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	switch {
	case k.apiKey != "":
		req.Header.Set("Authorization", "ApiKey "+k.apiKey)
	case k.username != "":
		req.SetBasicAuth(k.username, k.password)
	}
	return k.client.Do(req)
}

// waitAvailable polls /api/status until Kibana reports level "available".
func (k kibana) waitAvailable(ctx context.Context, timeout time.Duration, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	every := k.pollEvery
	if every <= 0 {
		every = 2 * time.Second
	}
	for {
		level, err := k.statusLevel(ctx)
		if err == nil && level == "available" {
			return nil
		}
		if err == nil {
			err = fmt.Errorf("status %q", level)
		}
		log.Info("waiting for kibana", "url", k.url, "state", err.Error())
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for kibana at %s: not available within %s (last: %w)", k.url, timeout, err)
		case <-time.After(every):
		}
	}
}

func (k kibana) statusLevel(ctx context.Context) (string, error) {
	res, err := k.request(ctx, http.MethodGet, "/api/status", "", nil)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	var st struct {
		Status struct {
			Overall struct {
				Level string `json:"level"`
			} `json:"overall"`
		} `json:"status"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&st); err != nil {
		return "", fmt.Errorf("HTTP %d, unreadable status: %w", res.StatusCode, err)
	}
	return st.Status.Overall.Level, nil
}

// importObjects waits for Kibana, then imports every *.ndjson of objects
// with overwrite=true and fails on any per-object error.
func (k kibana) importObjects(ctx context.Context, timeout time.Duration, objects fs.FS, stdout io.Writer, log *slog.Logger) error {
	files, err := fs.Glob(objects, "kibana/*.ndjson")
	if err != nil {
		return fmt.Errorf("find kibana objects: %w", err)
	}
	if len(files) == 0 {
		return errors.New("find kibana objects: none embedded")
	}
	if err := k.waitAvailable(ctx, timeout, log); err != nil {
		return err
	}
	for _, f := range files {
		data, err := fs.ReadFile(objects, f)
		if err != nil {
			return fmt.Errorf("read %s: %w", f, err)
		}
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		part, err := mw.CreateFormFile("file", path.Base(f))
		if err != nil {
			return err
		}
		// A bytes.Buffer never fails a write; Close writes the boundary.
		_, _ = part.Write(data)
		if err := mw.Close(); err != nil {
			return fmt.Errorf("encode %s: %w", f, err)
		}
		res, err := k.request(ctx, http.MethodPost, "/api/saved_objects/_import?overwrite=true", mw.FormDataContentType(), &body)
		if err != nil {
			return fmt.Errorf("import %s into kibana: %w", f, err)
		}
		var out struct {
			Success      bool              `json:"success"`
			SuccessCount int               `json:"successCount"`
			Errors       []json.RawMessage `json:"errors"`
		}
		raw, _ := io.ReadAll(io.LimitReader(res.Body, 4<<20))
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("import %s into kibana: status %d: %s", f, res.StatusCode, truncate(raw, 1024))
		}
		if err := json.Unmarshal(raw, &out); err != nil {
			return fmt.Errorf("import %s into kibana: decode response: %w", f, err)
		}
		if !out.Success || len(out.Errors) > 0 {
			return fmt.Errorf("import %s into kibana: %d imported, %d failed: %s", f, out.SuccessCount, len(out.Errors), truncate(raw, 2048))
		}
		fmt.Fprintf(stdout, "kibana: applied %d saved objects from %s (import with overwrite)\n", out.SuccessCount, path.Base(f))
	}
	return nil
}
