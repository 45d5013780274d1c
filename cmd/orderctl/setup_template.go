package main

// The index template part of orderctl setup: install it unless the
// stored one already says the same.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path"
	"reflect"
	"strconv"
	"strings"

	"github.com/orderpipe/orderpipe/internal/elastic"
)

// setupTemplate installs the template unless the installed one already says
// the same, so a second run changes nothing at all.
func setupTemplate(ctx context.Context, esc *elastic.Client, name string, body []byte, index string, stdout io.Writer, log *slog.Logger) error {
	var desired struct {
		IndexPatterns []string `json:"index_patterns"`
	}
	if err := json.Unmarshal(body, &desired); err != nil {
		return fmt.Errorf("decode index template: %w", err)
	}
	matched := false
	for _, p := range desired.IndexPatterns {
		if ok, _ := path.Match(p, index); ok {
			matched = true
		}
	}
	if !matched {
		fmt.Fprintf(stdout, "template %s: WARNING its patterns %v do not match ES_INDEX %q: that index would get a dynamic mapping\n", name, desired.IndexPatterns, index)
	}
	stored, found, err := esc.IndexTemplate(ctx, name)
	if err != nil {
		return err
	}
	state := "installed"
	if found {
		same, err := templateEqual(body, stored)
		if err != nil {
			return err
		}
		if same {
			fmt.Fprintf(stdout, "template %s: unchanged\n", name)
			return nil
		}
		state = "updated"
	}
	if err := esc.EnsureTemplate(ctx, name, body, log); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "template %s: %s\n", name, state)
	return nil
}

// templateEqual compares a template body with what GET _index_template
// returns for it: Elasticsearch nests settings under "index" with string
// values and adds an empty composed_of; nothing else is rewritten.
func templateEqual(desired, stored []byte) (bool, error) {
	var d, s map[string]any
	if err := json.Unmarshal(desired, &d); err != nil {
		return false, fmt.Errorf("decode index template: %w", err)
	}
	if err := json.Unmarshal(stored, &s); err != nil {
		return false, fmt.Errorf("decode installed index template: %w", err)
	}
	normalizeTemplate(d)
	normalizeTemplate(s)
	return reflect.DeepEqual(d, s), nil
}

func normalizeTemplate(t map[string]any) {
	if c, ok := t["composed_of"].([]any); ok && len(c) == 0 {
		delete(t, "composed_of")
	}
	tmpl, _ := t["template"].(map[string]any)
	if tmpl == nil {
		return
	}
	if settings, ok := tmpl["settings"].(map[string]any); ok {
		flat := map[string]any{}
		flattenSettings("", settings, flat)
		tmpl["settings"] = flat
	}
}

func flattenSettings(prefix string, in map[string]any, out map[string]any) {
	for k, v := range in {
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		if m, ok := v.(map[string]any); ok {
			flattenSettings(key, m, out)
			continue
		}
		if !strings.HasPrefix(key, "index.") {
			key = "index." + key
		}
		switch x := v.(type) {
		case float64:
			out[key] = strconv.FormatFloat(x, 'f', -1, 64)
		case bool:
			out[key] = strconv.FormatBool(x)
		default:
			out[key] = fmt.Sprint(x)
		}
	}
}
