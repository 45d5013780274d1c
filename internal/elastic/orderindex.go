package elastic

// The server side of the rule in template.go: before the first document is
// written, the index exists and its mapping is the template's. Creating the
// index here rather than on the first bulk means its mapping is read back
// and checked once, whatever template actually applied (a stale one the
// consumer was not allowed to replace, or another of higher priority).

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/orderpipe/orderpipe/internal/settings"
)

// UngovernedError is an index (ES_INDEX) the order mapping does not govern:
// the template does not cover the name, or the index exists with another
// mapping. It is a setting to change, not a fault to wait out, so it
// matches settings.ErrInvalid.
type UngovernedError struct {
	Index    string
	Template Template
	Exists   bool     // the index exists, with Problems in its mapping
	Problems []string // how its mapping differs from the template's
}

func (e *UngovernedError) Error() string {
	t := e.Template
	if !e.Exists {
		return fmt.Sprintf("ES_INDEX %q is not covered by index template %s, whose index_patterns are %v, so Elasticsearch would guess its mapping; "+
			"choose an ES_INDEX those patterns match, or set ES_TEMPLATE_FILE to a template whose index_patterns include %q",
			e.Index, t.Name, t.Patterns, e.Index)
	}
	problems := e.Problems
	if len(problems) > 5 {
		problems = append(problems[:5:5], fmt.Sprintf("and %d more", len(e.Problems)-5))
	}
	return fmt.Sprintf("ES_INDEX %q exists with a mapping index template %s (ES_TEMPLATE_FILE, or the built-in one) does not govern: %s; "+
		"reindex it into a new index the template creates (an ES_INDEX matching %v), or delete it so that it is created anew",
		e.Index, t.Name, strings.Join(problems, "; "), t.Patterns)
}

// Is makes errors.Is(err, settings.ErrInvalid) true.
func (e *UngovernedError) Is(target error) bool { return target == settings.ErrInvalid }

// Is makes errors.Is(err, settings.ErrInvalid) true for a template that
// cannot be relied on.
func (e *TemplateError) Is(target error) bool { return target == settings.ErrInvalid }

// EnsureOrderIndex makes the client's index ready for orders: created from
// t when it does not exist (which only a name t covers may be), and its
// mapping then checked against t's. An index t does not govern is an
// *UngovernedError. A user not allowed to read the mapping (401/403) is
// logged and let through when t covers the name, since the template still
// decides the mapping, and refused when it does not. An unreachable or overloaded Elasticsearch is waited for as
// EnsureTemplate waits.
func (c *Client) EnsureOrderIndex(ctx context.Context, t Template, log *slog.Logger) (created bool, err error) {
	err = c.untilAnswered(ctx, "index "+c.index, log, func() error {
		created, err = c.ensureOrderIndex(ctx, t)
		return err
	})
	if errors.Is(err, ErrForbidden) {
		if !t.Covers(c.index) {
			return false, &UngovernedError{Index: c.index, Template: t}
		}
		log.Warn("not allowed to read the index mapping; relying on the index template, which covers the index", "index", c.index, "template", t.Name, "error", err.Error())
		return false, nil
	}
	return created, err
}

func (c *Client) ensureOrderIndex(ctx context.Context, t Template) (created bool, err error) {
	exists, err := c.CheckOrderIndex(ctx, t)
	if err != nil || exists {
		return false, err
	}
	if created, err = c.createIndex(ctx); err != nil {
		return false, err
	}
	// Read back what was made: the template that applied may not be t.
	if _, err := c.CheckOrderIndex(ctx, t); err != nil {
		return created, err
	}
	return created, nil
}

// CheckOrderIndex reads the rule without changing anything, for the tools
// that only read the index: exists is false (and err nil) for a missing
// index that t covers, err an *UngovernedError for one t does not govern.
func (c *Client) CheckOrderIndex(ctx context.Context, t Template) (exists bool, err error) {
	mappings, err := c.mappings(ctx)
	switch {
	case errors.Is(err, ErrNotFound):
		if !t.Covers(c.index) {
			return false, &UngovernedError{Index: c.index, Template: t}
		}
		return false, nil
	case err != nil:
		return false, err
	}
	// An alias answers with each index behind it: every one must conform.
	var problems []string
	for name, m := range mappings {
		for _, p := range t.MappingProblems(m) {
			if name != c.index {
				p = name + ": " + p
			}
			problems = append(problems, p)
		}
	}
	if len(problems) > 0 {
		return true, &UngovernedError{Index: c.index, Template: t, Exists: true, Problems: problems}
	}
	return true, nil
}

// mappings returns the mapping of each index behind the client's index
// name; a missing index matches ErrNotFound.
func (c *Client) mappings(ctx context.Context) (map[string]map[string]any, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var got map[string]struct {
		Mappings map[string]any `json:"mappings"`
	}
	if err := c.do(ctx, esapi.IndicesGetMappingRequest{Index: []string{c.index}}, &got); err != nil {
		return nil, fmt.Errorf("read mapping of index %s: %w", c.index, err)
	}
	out := make(map[string]map[string]any, len(got))
	for name, m := range got {
		out[name] = m.Mappings
	}
	return out, nil
}

// createIndex creates the client's index with no body, so the templates
// decide its settings and mapping; created is false when another writer
// made it first.
func (c *Client) createIndex(ctx context.Context) (created bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	err = c.do(ctx, esapi.IndicesCreateRequest{Index: c.index}, nil)
	var se *StatusError
	if errors.As(err, &se) && se.Status == 400 && strings.Contains(se.Body, "resource_already_exists_exception") {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("create index %s: %w", c.index, err)
	}
	return true, nil
}
