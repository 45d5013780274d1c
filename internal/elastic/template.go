package elastic

// The rule every writer and reader of the orders index follows: orderpipe
// writes only into an index the order mapping governs, so Elasticsearch
// never guesses a field's type. An index the template does not cover would
// get a dynamic mapping (shipping.location an object, status text) and
// concurrent bulks would race on the guessed types, rejecting valid orders.
// Template is the parsed template; orderindex.go holds the server calls.

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Template is an index template body as orderpipe reads it: the index
// names it covers and the mapping it gives them.
type Template struct {
	Name     string
	Patterns []string
	Mappings map[string]any // the body's template.mappings
}

// TemplateError is a template body orderpipe cannot rely on: one that does
// not parse, covers no index, or leaves fields to Elasticsearch's guesses.
type TemplateError struct{ Name, Reason string }

func (e *TemplateError) Error() string {
	return fmt.Sprintf("index template %s (ES_TEMPLATE_FILE, or the built-in deploy/elasticsearch/orders-template.json): %s", e.Name, e.Reason)
}

// ParseTemplate reads a composable index template body. It refuses one
// whose mapping is not "dynamic": "strict": a field the mapping does not
// name would otherwise be guessed, which is what this rule exists to stop.
func ParseTemplate(name string, body []byte) (Template, error) {
	var t struct {
		IndexPatterns json.RawMessage `json:"index_patterns"`
		Template      struct {
			Mappings map[string]any `json:"mappings"`
		} `json:"template"`
	}
	if err := json.Unmarshal(body, &t); err != nil {
		return Template{}, &TemplateError{name, "is not JSON: " + err.Error()}
	}
	var patterns []string
	// index_patterns is a string or a list of strings.
	var one string
	if err := json.Unmarshal(t.IndexPatterns, &one); err == nil {
		patterns = []string{one}
	} else if err := json.Unmarshal(t.IndexPatterns, &patterns); err != nil || len(patterns) == 0 {
		return Template{}, &TemplateError{name, "has no index_patterns"}
	}
	if len(t.Template.Mappings) == 0 {
		return Template{}, &TemplateError{name, "has no template.mappings"}
	}
	if d := dynamicOf(t.Template.Mappings); d != "strict" {
		return Template{}, &TemplateError{name, fmt.Sprintf(`its mappings are "dynamic": %q; orderpipe needs "strict", so that Elasticsearch never guesses a field's type`, d)}
	}
	return Template{Name: name, Patterns: patterns, Mappings: t.Template.Mappings}, nil
}

// Covers reports whether a new index of that name would be created from
// the template.
func (t Template) Covers(index string) bool { return PatternsCover(t.Patterns, index) }

// PatternsCover reports whether any of Elasticsearch's index name patterns
// (a template's index_patterns, a role's names) matches index, as
// Elasticsearch matches them.
func PatternsCover(patterns []string, index string) bool {
	for _, p := range patterns {
		if simpleMatch(p, index) {
			return true
		}
	}
	return false
}

// simpleMatch is Elasticsearch's own pattern rule for index_patterns
// (Regex.simpleMatch): * matches any run of characters, and every other
// character only itself.
func simpleMatch(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return len(s) >= len(last) && strings.HasSuffix(s, last)
}

// MappingProblems lists how got, an index's mapping as GET _mapping returns
// it, falls short of the template's: not strict, a field missing, or a field
// of another type. Fields got has beyond the template's are no problem:
// every order field is still mapped as the template says.
func (t Template) MappingProblems(got map[string]any) []string {
	var problems, missing []string
	if d := dynamicOf(got); d != "strict" {
		problems = append(problems, fmt.Sprintf(`"dynamic" is %q, not "strict"`, d))
	}
	compareFields("", t.Mappings, got, &problems, &missing)
	// A field of the wrong type says more than a missing one: it is what
	// makes aggregations and the map fail, so it is listed first.
	return append(problems, missing...)
}

// dynamicOf is a mapping's dynamic setting as a string; Elasticsearch
// answers with a string, a template file may say true or false.
func dynamicOf(m map[string]any) string {
	switch d := m["dynamic"].(type) {
	case nil:
		return "true"
	case string:
		return d
	default:
		return fmt.Sprint(d)
	}
}

// compareFields walks want's properties (and multi-fields) and reports the
// ones got maps as another type in wrong, the ones it lacks in missing.
func compareFields(prefix string, want, got map[string]any, wrong, missing *[]string) {
	for _, key := range []string{"properties", "fields"} {
		wantProps, _ := want[key].(map[string]any)
		gotProps, _ := got[key].(map[string]any)
		names := make([]string, 0, len(wantProps))
		for name := range wantProps {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			field := strings.TrimPrefix(prefix+"."+name, ".")
			w, _ := wantProps[name].(map[string]any)
			g, ok := gotProps[name].(map[string]any)
			if !ok {
				*missing = append(*missing, fmt.Sprintf("%s is not mapped", field))
				continue
			}
			if wt, gt := fieldType(w), fieldType(g); wt != gt {
				*wrong = append(*wrong, fmt.Sprintf("%s is %s, not %s", field, gt, wt))
				continue
			}
			compareFields(field, w, g, wrong, missing)
		}
	}
}

// fieldType is a field's type; a field with properties and no type is an
// object, as Elasticsearch reads it.
func fieldType(f map[string]any) string {
	if t, ok := f["type"].(string); ok {
		return t
	}
	return "object"
}
