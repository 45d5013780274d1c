package main

// The index template part of orderctl setup: install it unless the
// stored one already says the same, and hold ES_INDEX to it.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strconv"
	"strings"

	"github.com/orderpipe/orderpipe/internal/elastic"
	"github.com/orderpipe/orderpipe/internal/settings"
)

// setupTemplate installs the template unless the installed one already says
// the same, so a second run changes nothing at all, then makes sure ES_INDEX
// is an index the template governs (created from it when missing), as the
// consumer does at start: an index it does not govern is a setting to
// change (exit 2), found here rather than through rejected orders.
func setupTemplate(ctx context.Context, esc *elastic.Client, tmpl elastic.Template, body []byte, stdout io.Writer, log *slog.Logger) error {
	name := tmpl.Name
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
		state = "updated"
		if same {
			state = "unchanged"
		}
	}
	if state != "unchanged" {
		if err := esc.EnsureTemplate(ctx, name, body, log); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "template %s: %s\n", name, state)
	created, err := esc.EnsureOrderIndex(ctx, tmpl, log)
	switch {
	case errors.Is(err, settings.ErrInvalid):
		return settings.Usage(err)
	case err != nil:
		return err
	case created:
		fmt.Fprintf(stdout, "index %s: created from template %s\n", esc.Index(), name)
	default:
		fmt.Fprintf(stdout, "index %s: exists, mapped as template %s says\n", esc.Index(), name)
	}
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
