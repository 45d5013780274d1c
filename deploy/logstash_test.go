package deploy

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// lsPlugin is one plugin block of a Logstash pipeline, e.g. input { kafka {...} }.
type lsPlugin struct {
	Section  string // input, filter, output
	Name     string // kafka, elasticsearch, mutate, ...
	Cond     string // enclosing conditional(s), as written
	Settings map[string]any
}

// parseLogstash reads the Logstash config language far enough to return every
// plugin with its settings: comments, quoted strings, arrays, hashes and
// if / else if / else blocks.
func parseLogstash(src string) ([]lsPlugin, error) {
	toks, err := lsTokens(src)
	if err != nil {
		return nil, err
	}
	p := &lsParser{toks: toks}
	var out []lsPlugin
	for !p.eof() {
		section := p.next()
		if err := p.expect("{"); err != nil {
			return nil, err
		}
		if err := p.block(section, "", &out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

type lsParser struct {
	toks []string
	pos  int
}

func (p *lsParser) eof() bool    { return p.pos >= len(p.toks) }
func (p *lsParser) peek() string { return p.toks[p.pos] }
func (p *lsParser) next() string { t := p.toks[p.pos]; p.pos++; return t }
func (p *lsParser) expect(s string) error {
	if p.eof() || p.peek() != s {
		return fmt.Errorf("logstash config: expected %q at token %d", s, p.pos)
	}
	p.pos++
	return nil
}

// block parses plugins/conditionals until the closing brace.
func (p *lsParser) block(section, cond string, out *[]lsPlugin) error {
	for !p.eof() {
		t := p.next()
		switch t {
		case "}":
			return nil
		case "if", "else":
			var c []string
			if t == "else" && !p.eof() && p.peek() == "if" {
				p.next()
				t = "else if"
			}
			for !p.eof() && p.peek() != "{" {
				c = append(c, p.next())
			}
			if err := p.expect("{"); err != nil {
				return err
			}
			expr := strings.NewReplacer("[ ", "[", " ]", "]", " ,", ",").Replace(strings.Join(c, " "))
			nc := strings.TrimSpace(cond + " " + strings.TrimSpace(t+" "+expr))
			if err := p.block(section, nc, out); err != nil {
				return err
			}
		default:
			if err := p.expect("{"); err != nil {
				return err
			}
			settings, err := p.settings()
			if err != nil {
				return err
			}
			*out = append(*out, lsPlugin{Section: section, Name: t, Cond: cond, Settings: settings})
		}
	}
	return fmt.Errorf("logstash config: unclosed block in %s", section)
}

func (p *lsParser) settings() (map[string]any, error) {
	m := map[string]any{}
	for !p.eof() {
		k := p.next()
		if k == "}" {
			return m, nil
		}
		if err := p.expect("=>"); err != nil {
			return nil, err
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		m[unquote(k)] = v
	}
	return nil, fmt.Errorf("logstash config: unclosed settings")
}

func (p *lsParser) value() (any, error) {
	t := p.next()
	switch t {
	case "[":
		var list []string
		for !p.eof() && p.peek() != "]" {
			if v := p.next(); v != "," {
				list = append(list, unquote(v))
			}
		}
		return list, p.expect("]")
	case "{":
		return p.settings()
	}
	// A bareword codec with options: codec => plain { format => "..." }
	if !p.eof() && p.peek() == "{" {
		p.next()
		s, err := p.settings()
		return map[string]any{t: s}, err
	}
	return unquote(t), nil
}

func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}

func lsTokens(src string) ([]string, error) {
	var toks []string
	r := []rune(src)
	for i := 0; i < len(r); {
		c := r[i]
		switch {
		case unicode.IsSpace(c):
			i++
		case c == '#':
			for i < len(r) && r[i] != '\n' {
				i++
			}
		case c == '"' || c == '\'':
			j := i + 1
			for j < len(r) && r[j] != c {
				if r[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(r) {
				return nil, fmt.Errorf("logstash config: unterminated string")
			}
			toks = append(toks, string(r[i:j+1]))
			i = j + 1
		case c == '=' && i+1 < len(r) && r[i+1] == '>':
			toks = append(toks, "=>")
			i += 2
		case strings.ContainsRune("{}[],", c):
			toks = append(toks, string(c))
			i++
		default:
			j := i
			for j < len(r) && !unicode.IsSpace(r[j]) && !strings.ContainsRune("{}[],#\"'", r[j]) &&
				(r[j] != '=' || j+1 >= len(r) || r[j+1] != '>') {
				j++
			}
			toks = append(toks, string(r[i:j]))
			i = j
		}
	}
	return toks, nil
}

func loadPipeline(t *testing.T) []lsPlugin {
	t.Helper()
	src := readFile(t, filepath.Join(repoRoot(t), "logstash", "pipeline", "orders.conf"))
	plugins, err := parseLogstash(string(src))
	if err != nil {
		t.Fatal(err)
	}
	return plugins
}

func findPlugins(plugins []lsPlugin, section, name string) []lsPlugin {
	var out []lsPlugin
	for _, p := range plugins {
		if p.Section == section && p.Name == name {
			out = append(out, p)
		}
	}
	return out
}

func setting(t *testing.T, p lsPlugin, key string) string {
	t.Helper()
	v, ok := p.Settings[key]
	if !ok {
		t.Errorf("%s %s: %s is not set", p.Section, p.Name, key)
		return ""
	}
	switch v := v.(type) {
	case string:
		return v
	case []string:
		return strings.Join(v, ",")
	case map[string]any:
		return strings.Join(sortedKeys(v), ",")
	}
	return fmt.Sprint(v)
}

func TestLogstashPipelineAgreesWithContract(t *testing.T) {
	plugins := loadPipeline(t)

	in := findPlugins(plugins, "input", "kafka")
	if len(in) != 1 {
		t.Fatalf("want exactly one kafka input, got %d", len(in))
	}
	kin := in[0]
	if got := setting(t, kin, "topics"); got != contract.Topic {
		t.Errorf("kafka input topics = %q, want %q", got, contract.Topic)
	}
	group := setting(t, kin, "group_id")
	if group == contract.ConsumerGroup || group == "" || group == "logstash" {
		t.Errorf("kafka input group_id = %q: must be Logstash's own group, not the Go consumer's %q nor the default", group, contract.ConsumerGroup)
	}
	if group != contract.LogstashGroup {
		t.Errorf("kafka input group_id = %q, want %q", group, contract.LogstashGroup)
	}
	if got := setting(t, kin, "codec"); got != "json" {
		t.Errorf("kafka input codec = %q, want json (else every order is indexed as one string)", got)
	}
	if got := setting(t, kin, "auto_offset_reset"); got != "earliest" {
		t.Errorf("auto_offset_reset = %q, want earliest", got)
	}
	if got := setting(t, kin, "bootstrap_servers"); got != "${KAFKA_BOOTSTRAP:"+contract.InternalBootstrap+"}" {
		t.Errorf("bootstrap_servers = %q, want ${KAFKA_BOOTSTRAP:%s}", got, contract.InternalBootstrap)
	}

	outs := findPlugins(plugins, "output", "elasticsearch")
	if len(outs) != 1 {
		t.Fatalf("want exactly one elasticsearch output, got %d", len(outs))
	}
	es := outs[0]
	for key, want := range map[string]string{
		"index":           contract.Index,
		"document_id":     contract.DocumentID,
		"version":         contract.Version,
		"version_type":    contract.VersionType,
		"action":          "index",
		"manage_template": "false",
		"user":            "${LOGSTASH_WRITER_USER:" + contract.LogstashWriterUser + "}",
		"password":        "${LOGSTASH_WRITER_PASSWORD}",
		"hosts":           "${ES_HOSTS:" + contract.ESURL + "}",
	} {
		if got := setting(t, es, key); got != want {
			t.Errorf("elasticsearch output %s = %q, want %q", key, got, want)
		}
	}

	// A replay answers 409 for every version the index already has: the
	// expected outcome of external versioning, so it must not log a WARN
	// per document.
	if got, ok := es.Settings["silence_errors_in_log"].([]string); !ok || !slices.Contains(got, "version_conflict_engine_exception") {
		t.Errorf("elasticsearch output silence_errors_in_log = %v, want it to list version_conflict_engine_exception", es.Settings["silence_errors_in_log"])
	}

	dlq := findPlugins(plugins, "output", "kafka")
	if len(dlq) != 1 {
		t.Fatalf("want exactly one kafka (DLQ) output, got %d", len(dlq))
	}
	if got := setting(t, dlq[0], "topic_id"); got != contract.DLQTopic {
		t.Errorf("DLQ topic_id = %q, want %q", got, contract.DLQTopic)
	}
	// The DLQ and ES outputs must be on opposite branches of one conditional.
	if dlq[0].Cond == "" || es.Cond == "" || !strings.HasPrefix(es.Cond, "else") {
		t.Errorf("DLQ output (cond %q) and ES output (cond %q) must be the if/else branches of one conditional", dlq[0].Cond, es.Cond)
	}

	// Parse failures are routed to the DLQ: the filter tags _jsonparsefailure
	// events (and JSON without order_id/version) for the DLQ branch.
	var tagged bool
	for _, f := range findPlugins(plugins, "filter", "mutate") {
		if strings.Contains(f.Cond, `"_jsonparsefailure" in [tags]`) && strings.Contains(dlq[0].Cond, setting(t, f, "add_tag")) {
			tagged = true
		}
	}
	if !tagged {
		t.Error("no filter routes _jsonparsefailure events to the DLQ branch")
	}
	// The strict mapping rejects fields Logstash adds itself.
	for _, f := range findPlugins(plugins, "filter", "mutate") {
		if rm, ok := f.Settings["remove_field"].([]string); ok {
			for _, want := range []string{"@timestamp", "@version", "event"} {
				if !slices.Contains(rm, want) {
					t.Errorf("filter does not remove %s, which the strict orders mapping rejects", want)
				}
			}
			if _, mapped := templateFields(t)["@timestamp"]; mapped {
				t.Error("@timestamp is mapped, but the pipeline drops it")
			}
			return
		}
	}
	t.Error("no mutate filter removes Logstash's own fields (@timestamp, @version, event)")
}

func TestLogstashSettings(t *testing.T) {
	root := repoRoot(t)
	yml := string(readFile(t, filepath.Join(root, "logstash", "config", "logstash.yml")))
	if !strings.Contains(yml, "\ndead_letter_queue.enable: true") {
		t.Error("logstash.yml does not enable the dead-letter queue")
	}
	pipes := string(readFile(t, filepath.Join(root, "logstash", "config", "pipelines.yml")))
	if !strings.Contains(pipes, "pipeline.id: orders") || !strings.Contains(pipes, "/usr/share/logstash/pipeline/orders.conf") {
		t.Errorf("pipelines.yml does not run pipeline orders from orders.conf:\n%s", pipes)
	}
	// The compose healthcheck asks for that pipeline id.
	p := loadCompose(t)
	if hc := strings.Join(p.Services["logstash"].HealthCheck.Test, " "); !strings.Contains(hc, "/_node/pipelines/orders") {
		t.Errorf("logstash healthcheck %q does not check pipeline orders", hc)
	}
}

func TestLogstashParser(t *testing.T) {
	got, err := parseLogstash(`input { kafka { topics => ["a", "b"] codec => plain { format => "%{message}" } } }
# comment => { }
filter { if [x] == "y" { mutate { add_tag => ["t"] } } else if "q" in [tags] { drop {} } else { mutate {} } }
output { stdout { codec => rubydebug } }`)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 {
		t.Fatalf("got %d plugins: %+v", len(got), got)
	}
	if got[0].Settings["topics"].([]string)[1] != "b" || got[1].Cond != `if [x] == "y"` || got[2].Cond != `else if "q" in [tags]` || got[3].Cond != "else" {
		t.Errorf("unexpected parse: %+v", got)
	}
}
