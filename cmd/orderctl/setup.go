package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime/multipart"
	"net/http"
	"os"
	"path"
	"reflect"
	"strconv"
	"strings"
	"time"

	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"
	"github.com/elastic/go-elasticsearch/v8/typedapi/security/changepassword"
	"github.com/elastic/go-elasticsearch/v8/typedapi/security/putrole"
	"github.com/elastic/go-elasticsearch/v8/typedapi/security/putuser"

	"github.com/orderpipe/orderpipe/deploy"
	"github.com/orderpipe/orderpipe/internal/elastic"
	"github.com/orderpipe/orderpipe/internal/kafka"
	"github.com/orderpipe/orderpipe/internal/settings"
)

type setupConfig struct {
	kafka.Config
	ESConfig
	Topic            string        `envconfig:"KAFKA_TOPIC" default:"orders" desc:"orders topic to create"`
	Partitions       int           `envconfig:"KAFKA_TOPIC_PARTITIONS" default:"6" desc:"partitions of the orders topic"`
	Replication      int           `envconfig:"KAFKA_TOPIC_REPLICATION" default:"1" desc:"replication factor of the orders topic"`
	DLQTopic         string        `envconfig:"DLQ_TOPIC" default:"orders.dlq" desc:"dead-letter topic to create"`
	DLQPartitions    int           `envconfig:"DLQ_PARTITIONS" default:"6" desc:"partitions of the dead-letter topic"`
	DLQReplication   int           `envconfig:"DLQ_REPLICATION_FACTOR" default:"1" desc:"replication factor of the dead-letter topic"`
	TemplateName     string        `envconfig:"ES_TEMPLATE_NAME" default:"orders" desc:"name the index template is installed under"`
	TemplateFile     string        `envconfig:"ES_TEMPLATE_FILE" desc:"index template JSON to install instead of the built-in deploy/elasticsearch/orders-template.json"`
	KibanaURL        string        `envconfig:"KIBANA_URL" desc:"Kibana to import deploy/kibana/*.ndjson into (empty: skip)"`
	KibanaTimeout    time.Duration `envconfig:"KIBANA_TIMEOUT" default:"5m" desc:"longest wait for Kibana to report itself available"`
	KibanaPassword   string        `envconfig:"KIBANA_PASSWORD" desc:"password to set for the built-in kibana_system user (empty: skip)"`
	LogstashPassword string        `envconfig:"LOGSTASH_WRITER_PASSWORD" desc:"password of user logstash_writer, created with role orderpipe_writer (empty: skip)"`
	ConsumerPassword string        `envconfig:"CONSUMER_ES_PASSWORD" desc:"password of user orderpipe_consumer, created with role orderpipe_writer (empty: skip)"`
	WaitTimeout      time.Duration `envconfig:"SETUP_TIMEOUT" default:"5m" desc:"longest wait for Kafka and Elasticsearch to answer, and longest Kibana import once Kibana is available"`
}

func (c *setupConfig) validate() error {
	bad := func(name, reason string) error { return &settings.Error{Variable: name, Reason: reason} }
	if err := c.Config.Validate(); err != nil {
		return err
	}
	if err := c.ESConfig.Validate(); err != nil {
		return err
	}
	switch {
	case c.Topic == "":
		return bad("KAFKA_TOPIC", "must not be empty")
	case c.Partitions < 1:
		return bad("KAFKA_TOPIC_PARTITIONS", "must be at least 1")
	case c.Replication < 1:
		return bad("KAFKA_TOPIC_REPLICATION", "must be at least 1")
	case c.DLQTopic == "":
		return bad("DLQ_TOPIC", "must not be empty")
	case c.DLQTopic == c.Topic:
		return bad("DLQ_TOPIC", "must differ from KAFKA_TOPIC")
	case c.DLQPartitions < 1:
		return bad("DLQ_PARTITIONS", "must be at least 1")
	case c.DLQReplication < 1:
		return bad("DLQ_REPLICATION_FACTOR", "must be at least 1")
	case c.TemplateName == "":
		return bad("ES_TEMPLATE_NAME", "must not be empty")
	case c.KibanaTimeout <= 0:
		return bad("KIBANA_TIMEOUT", "must be positive")
	case c.WaitTimeout <= 0:
		return bad("SETUP_TIMEOUT", "must be positive")
	case (c.KibanaPassword != "" || c.LogstashPassword != "" || c.ConsumerPassword != "") && c.Username == "" && c.APIKey == "":
		return bad("ES_USERNAME", "creating users needs a privileged user (ES_USERNAME/ES_PASSWORD or ES_API_KEY)")
	}
	if c.KibanaURL != "" {
		if !strings.HasPrefix(c.KibanaURL, "http://") && !strings.HasPrefix(c.KibanaURL, "https://") {
			return bad("KIBANA_URL", fmt.Sprintf("%q is not an http(s) URL", c.KibanaURL))
		}
	}
	return nil
}

const setupSummary = `setup creates the orders and dead-letter topics, sets the kibana_system password and
creates the orderpipe_writer role and its users (only for the passwords that are set),
installs the index template, and imports the Kibana saved objects when KIBANA_URL is
set. It is idempotent: on a second run the topics and the template are left untouched
("exists"/"unchanged"); the kibana_system password, the role, the users and the Kibana
saved objects are written again every run ("applied", import with overwrite), which
leaves them as they were.`

func runSetup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg setupConfig
	fs := newFlags("setup", setupSummary, &cfg, stdout)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := settings.Load(&cfg); err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return settings.Usage(err)
	}
	template := deploy.OrdersTemplate
	if cfg.TemplateFile != "" {
		var err error
		if template, err = os.ReadFile(cfg.TemplateFile); err != nil {
			return settings.Usage(&settings.Error{Variable: "ES_TEMPLATE_FILE", Reason: err.Error()})
		}
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	esc, err := elastic.New(cfg.ESConfig.Config)
	if err != nil {
		return settings.Usage(err)
	}

	waitCtx, cancel := context.WithTimeout(ctx, cfg.WaitTimeout)
	defer cancel()
	for _, t := range []kafka.TopicSpec{
		{Name: cfg.Topic, Partitions: cfg.Partitions, ReplicationFactor: cfg.Replication},
		{Name: cfg.DLQTopic, Partitions: cfg.DLQPartitions, ReplicationFactor: cfg.DLQReplication},
	} {
		if err := setupTopic(waitCtx, cfg.Config, t, stdout, log); err != nil {
			return err
		}
	}
	if err := waitElasticsearch(waitCtx, esc.ES(), log); err != nil {
		return err
	}
	if err := setupSecurity(waitCtx, esc.ES(), cfg, stdout); err != nil {
		return err
	}
	if err := setupTemplate(waitCtx, esc, cfg.TemplateName, template, cfg.Index, stdout, log); err != nil {
		return err
	}
	if cfg.KibanaURL == "" {
		fmt.Fprintln(stdout, "kibana: skipped (KIBANA_URL not set)")
		return nil
	}
	// Kibana may take KIBANA_TIMEOUT to come up, then the imports get
	// SETUP_TIMEOUT; each request is also bounded on its own, so a Kibana
	// that accepts a connection and never answers cannot hang setup.
	kctx, kcancel := context.WithTimeout(ctx, cfg.KibanaTimeout+cfg.WaitTimeout)
	defer kcancel()
	k := kibana{url: strings.TrimRight(cfg.KibanaURL, "/"), username: cfg.Username, password: cfg.Password, apiKey: cfg.APIKey,
		client: &http.Client{Timeout: kibanaRequestTimeout}}
	return k.importObjects(kctx, cfg.KibanaTimeout, deploy.KibanaObjects, stdout, log)
}

// kibanaRequestTimeout bounds each request to Kibana, the import included.
var kibanaRequestTimeout = 2 * time.Minute

// setupTopic creates a topic unless it exists; it waits for Kafka to answer.
func setupTopic(ctx context.Context, cfg kafka.Config, spec kafka.TopicSpec, stdout io.Writer, log *slog.Logger) error {
	for {
		n, exists, err := kafka.TopicPartitions(ctx, cfg, spec.Name)
		switch {
		case err == nil && exists:
			fmt.Fprintf(stdout, "topic %s: exists (%d partitions)\n", spec.Name, n)
			if n < spec.Partitions {
				fmt.Fprintf(stdout, "topic %s: WARNING has %d partitions, %d wanted; not changed (adding partitions would move keys)\n", spec.Name, n, spec.Partitions)
			}
			return nil
		case err == nil:
			n, err := kafka.EnsureTopic(ctx, cfg, spec, log)
			if err != nil {
				return fmt.Errorf("create topic %s: %w", spec.Name, err)
			}
			fmt.Fprintf(stdout, "topic %s: created (%d partitions, replication %d)\n", spec.Name, n, spec.ReplicationFactor)
			return nil
		}
		log.Warn("kafka not ready, retrying", "topic", spec.Name, "error", err.Error())
		select {
		case <-ctx.Done():
			return fmt.Errorf("look up topic %s: %w (last error: %v)", spec.Name, ctx.Err(), err)
		case <-time.After(time.Second):
		}
	}
}

// waitElasticsearch waits until the cluster answers a health request.
func waitElasticsearch(ctx context.Context, client *es.Client, log *slog.Logger) error {
	for {
		res, err := esapi.ClusterHealthRequest{WaitForStatus: "yellow", Timeout: 5 * time.Second}.Do(ctx, client)
		if err == nil {
			status := res.StatusCode
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if status == http.StatusOK {
				return nil
			}
			if status == http.StatusUnauthorized || status == http.StatusForbidden {
				return fmt.Errorf("reach elasticsearch: status %d: check ES_USERNAME/ES_PASSWORD/ES_API_KEY", status)
			}
			err = fmt.Errorf("cluster health: status %d", status)
		}
		log.Warn("elasticsearch not ready, retrying", "error", err.Error())
		select {
		case <-ctx.Done():
			return fmt.Errorf("reach elasticsearch: %w (last error: %v)", ctx.Err(), err)
		case <-time.After(time.Second):
		}
	}
}

// Request bodies are built from go-elasticsearch's typed API request types,
// which mirror the Elasticsearch specification: a field the server does not
// know cannot be sent, and the fake in setup_test.go decodes every body back
// into the same types, so a body that loses a field in that round trip fails
// the test instead of being refused by a real cluster.

// writerRoleRequest decodes deploy.WriterRole, the one definition of the
// writer role, into the typed request; it warns when the role's index
// patterns do not cover ES_INDEX, since the writers would then get 403s.
func writerRoleRequest(index string, stdout io.Writer) (*putrole.Request, error) {
	req := putrole.NewRequest()
	if err := json.Unmarshal(deploy.WriterRole, req); err != nil {
		return nil, fmt.Errorf("decode role %s: %w", deploy.WriterRoleName, err)
	}
	for _, ip := range req.Indices {
		for _, p := range ip.Names {
			if ok, _ := path.Match(p, index); ok {
				return req, nil
			}
		}
	}
	fmt.Fprintf(stdout, "role %s: WARNING its index patterns do not match ES_INDEX %q: writers would be refused (403)\n", deploy.WriterRoleName, index)
	return req, nil
}

// setupSecurity sets the kibana_system password and creates the writer role
// and users, each only when its password is set. Every call is an upsert,
// made on every run: what exists already is written again ("applied") with
// the same content, so a rerun leaves it as it was (a changed password in
// the environment is applied too).
func setupSecurity(ctx context.Context, client *es.Client, cfg setupConfig, stdout io.Writer) error {
	if cfg.KibanaPassword != "" {
		body, err := json.Marshal(&changepassword.Request{Password: &cfg.KibanaPassword})
		if err != nil {
			return fmt.Errorf("encode kibana_system password: %w", err)
		}
		res, err := esapi.SecurityChangePasswordRequest{Username: "kibana_system", Body: bytes.NewReader(body)}.Do(ctx, client)
		if err := esResult(res, err, nil); err != nil {
			return fmt.Errorf("set kibana_system password: %w", err)
		}
		fmt.Fprintln(stdout, "user kibana_system: password applied")
	}
	users := []struct{ name, password string }{{"logstash_writer", cfg.LogstashPassword}, {"orderpipe_consumer", cfg.ConsumerPassword}}
	if cfg.LogstashPassword == "" && cfg.ConsumerPassword == "" {
		if cfg.KibanaPassword == "" {
			fmt.Fprintln(stdout, "security: skipped (no passwords set)")
		}
		return nil
	}
	roleReq, err := writerRoleRequest(cfg.Index, stdout)
	if err != nil {
		return err
	}
	body, err := json.Marshal(roleReq)
	if err != nil {
		return fmt.Errorf("encode role %s: %w", deploy.WriterRoleName, err)
	}
	var role struct {
		Role struct {
			Created bool `json:"created"`
		} `json:"role"`
	}
	res, err := esapi.SecurityPutRoleRequest{Name: deploy.WriterRoleName, Body: bytes.NewReader(body)}.Do(ctx, client)
	if err := esResult(res, err, &role); err != nil {
		return fmt.Errorf("put role %s: %w", deploy.WriterRoleName, err)
	}
	fmt.Fprintf(stdout, "role %s: %s\n", deploy.WriterRoleName, createdOr(role.Role.Created, "applied"))
	for _, u := range users {
		if u.password == "" {
			continue
		}
		fullName := "orderpipe " + u.name
		body, err := json.Marshal(&putuser.Request{Password: &u.password, Roles: []string{deploy.WriterRoleName}, FullName: &fullName})
		if err != nil {
			return fmt.Errorf("encode user %s: %w", u.name, err)
		}
		var user struct {
			Created bool `json:"created"`
		}
		res, err := esapi.SecurityPutUserRequest{Username: u.name, Body: bytes.NewReader(body)}.Do(ctx, client)
		if err := esResult(res, err, &user); err != nil {
			return fmt.Errorf("put user %s: %w", u.name, err)
		}
		fmt.Fprintf(stdout, "user %s: %s\n", u.name, createdOr(user.Created, "applied"))
	}
	return nil
}

func createdOr(created bool, otherwise string) string {
	if created {
		return "created"
	}
	return otherwise
}

// esResult turns a response into an *elastic.StatusError unless it is 2xx,
// and decodes it into v when v is not nil.
func esResult(res *esapi.Response, err error, v any) error {
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.IsError() {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 2048))
		return &elastic.StatusError{Status: res.StatusCode, Body: strings.TrimSpace(string(b))}
	}
	if v == nil {
		_, _ = io.Copy(io.Discard, res.Body)
		return nil
	}
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		return fmt.Errorf("decode response: %w", err)
	}
	return nil
}

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
	res, err := esapi.IndicesGetIndexTemplateRequest{Name: name}.Do(ctx, esc.ES())
	if err != nil {
		return fmt.Errorf("get index template %s: %w", name, err)
	}
	var got struct {
		IndexTemplates []struct {
			IndexTemplate json.RawMessage `json:"index_template"`
		} `json:"index_templates"`
	}
	state := "installed"
	if res.StatusCode == http.StatusNotFound {
		res.Body.Close()
	} else if err := esResult(res, nil, &got); err != nil {
		return fmt.Errorf("get index template %s: %w", name, err)
	} else if len(got.IndexTemplates) == 1 {
		same, err := templateEqual(body, got.IndexTemplates[0].IndexTemplate)
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
			return fmt.Errorf("wait for kibana at %s: not available within %s (last: %v)", k.url, timeout, err)
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
	if err != nil || len(files) == 0 {
		return fmt.Errorf("find kibana objects: none embedded (%v)", err)
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
		part.Write(data)
		mw.Close()
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

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}
