package main

// orderctl against the secured Elasticsearch node of scripts/with-services
// (security and HTTPS on, file-realm users): what a user of the compose
// stack, where security is on, runs. Kafka stays the open broker here; the
// SASL_SSL listener has its own tests (sasl_test.go).

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/deploy"
	"github.com/orderpipe/orderpipe/internal/order"
	"github.com/orderpipe/orderpipe/internal/servicetest"
	"github.com/orderpipe/orderpipe/internal/settings/settingstest"
)

// securedEnv points orderctl's ES_* variables at the secured node as
// user/password, trusting the CA in file ca.
func securedEnv(t *testing.T, node servicetest.SecureES, user, password, ca string) {
	t.Helper()
	t.Setenv("ES_ADDRESSES", node.URL)
	t.Setenv("ES_USERNAME", user)
	t.Setenv("ES_PASSWORD", password)
	t.Setenv("ES_CA_CERT", ca)
}

// assertNoSecret fails when what orderctl printed holds any password of the
// node, or the wrong one a case tried.
func assertNoSecret(t *testing.T, node servicetest.SecureES, out, errOut string, err error, extra ...string) {
	t.Helper()
	text := out + "\n" + errOut
	if err != nil {
		text += "\n" + err.Error()
	}
	node.AssertNoSecret(t, "orderctl's output", text)
	for _, secret := range extra {
		if secret != "" && strings.Contains(text, secret) {
			t.Errorf("orderctl's output contains the password tried (%d characters)", len(secret))
		}
	}
}

// TestSecuredSetupTemplate: the template part of setup over HTTPS with
// basic auth. Installing templates is a cluster privilege
// (manage_index_templates) the writer role does not grant, so only the
// superuser installs; the writer, a wrong password and a foreign CA each
// fail at once with an error naming what to fix.
func TestSecuredSetupTemplate(t *testing.T) {
	node := servicetest.SecureElasticsearch(t)
	brokers := servicetest.KafkaBrokers(t)
	wrong := "wrong-" + node.AdminPassword
	tests := []struct {
		name           string
		user, password string
		foreignCA      bool
		want           []string // in stdout on success, in the error otherwise
		wantErr        bool
	}{
		{name: "superuser", user: node.AdminUser, password: node.AdminPassword, want: []string{"installed", "unchanged"}},
		{name: "writer lacks the privilege", user: servicetest.ConsumerUser, password: node.ConsumerPassword, wantErr: true,
			want: []string{"403", deploy.WriterRoleName}},
		{name: "wrong password", user: node.AdminUser, password: wrong, wantErr: true, want: []string{"ES_USERNAME", "ES_PASSWORD"}},
		{name: "foreign CA", user: node.AdminUser, password: node.AdminPassword, foreignCA: true, wantErr: true, want: []string{"ES_CA_CERT"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			topic, dlq := servicetest.Name(t, "orders"), servicetest.Name(t, "dlq")
			index, template := servicetest.Name(t, "orders-sec"), servicetest.Name(t, "orders-sec-tmpl")
			t.Cleanup(func() {
				servicetest.DeleteTopic(t, brokers, topic)
				servicetest.DeleteTopic(t, brokers, dlq)
				node.Admin(t, http.MethodDelete, "/_index_template/"+template, nil, http.StatusOK, http.StatusNotFound)
			})
			ca := node.CACert
			if tc.foreignCA {
				ca = servicetest.ForeignCA(t)
			}
			securedEnv(t, node, tc.user, tc.password, ca)
			for k, v := range map[string]string{
				"KAFKA_BROKERS": strings.Join(brokers, ","), "KAFKA_TOPIC": topic, "DLQ_TOPIC": dlq,
				"KAFKA_TOPIC_PARTITIONS": "1", "DLQ_TOPIC_PARTITIONS": "1", "ES_INDEX": index,
				"ES_TEMPLATE_NAME": template, "ES_TEMPLATE_FILE": privateTemplate(t, index, nil), "SETUP_TIMEOUT": "1m",
			} {
				t.Setenv(k, v)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if tc.wantErr {
				out, errOut, err := runCmd(t, ctx, "setup")
				assertNoSecret(t, node, out, errOut, err, wrong)
				settingstest.AssertErrorNames(t, "setup", err, tc.want...)
				return
			}
			for _, state := range tc.want {
				out, errOut, err := runCmd(t, ctx, "setup")
				assertNoSecret(t, node, out, errOut, err, wrong)
				if err != nil {
					t.Fatalf("setup: %v\n%s\n%s", err, out, errOut)
				}
				if line := fmt.Sprintf("template %s: %s\n", template, state); !strings.Contains(out, line) {
					t.Errorf("setup printed\n%s\nwant the line %q", out, line)
				}
			}
			var got struct {
				IndexTemplates []struct{ Name string } `json:"index_templates"`
			}
			if err := json.Unmarshal(node.Admin(t, http.MethodGet, "/_index_template/"+template, nil), &got); err != nil || len(got.IndexTemplates) != 1 {
				t.Errorf("template %s not on the node: %v %+v", template, err, got)
			}
		})
	}
}

// TestSecuredVerify: verify reads the index, and the writer role grants no
// read (it may write, create and manage orders*, nothing more), so verify
// runs as the superuser, or any user given read on the index. The writer
// gets a 403 naming the role, a wrong password an error naming ES_USERNAME,
// a foreign CA one naming ES_CA_CERT; none prints a password.
func TestSecuredVerify(t *testing.T) {
	node := servicetest.SecureElasticsearch(t)
	s := newStack(t, 2)
	servicetest.CreateTopic(t, s.brokers, s.dlqTopic, 1)
	msgs := messages(events(t, 20, 7, 0))
	s.produce(t, s.topic, msgs)
	index := node.OrdersIndex(t, deploy.OrdersTemplate)
	t.Setenv("ES_INDEX", index)
	latest := map[string]int{}
	var bulk strings.Builder
	for _, m := range msgs { // in produce order, so the last version of an order wins
		o, err := order.Decode(m.Value)
		if err != nil {
			t.Fatal(err)
		}
		latest[o.OrderID] = o.Version
	}
	for _, m := range msgs {
		o, _ := order.Decode(m.Value)
		if o.Version == latest[o.OrderID] {
			fmt.Fprintf(&bulk, "{\"index\":{\"_index\":%q,\"_id\":%q,\"version\":%d,\"version_type\":\"external\"}}\n%s\n", index, o.OrderID, o.Version, m.Value)
		}
	}
	var res struct{ Errors bool }
	if err := json.Unmarshal(node.Admin(t, http.MethodPost, "/_bulk?refresh=true", bulk.String()), &res); err != nil || res.Errors {
		t.Fatalf("index the orders as %s: %v, errors %v", node.AdminUser, err, res.Errors)
	}

	wrong := "wrong-" + node.AdminPassword
	tests := []struct {
		name           string
		user, password string
		foreignCA      bool
		want           []string // in stdout on success, in the error otherwise
		wantErr        bool
	}{
		{name: "superuser", user: node.AdminUser, password: node.AdminPassword,
			want: []string{fmt.Sprintf("%d documents", len(latest)), "OK: no differences"}},
		{name: "writer may not read", user: servicetest.ConsumerUser, password: node.ConsumerPassword, wantErr: true,
			want: []string{"403", deploy.WriterRoleName}},
		{name: "wrong password", user: node.AdminUser, password: wrong, wantErr: true, want: []string{"ES_USERNAME", "ES_PASSWORD"}},
		{name: "foreign CA", user: node.AdminUser, password: node.AdminPassword, foreignCA: true, wantErr: true, want: []string{"ES_CA_CERT"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ca := node.CACert
			if tc.foreignCA {
				ca = servicetest.ForeignCA(t)
			}
			securedEnv(t, node, tc.user, tc.password, ca)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			out, errOut, err := runCmd(t, ctx, "verify")
			assertNoSecret(t, node, out, errOut, err, wrong)
			if tc.wantErr {
				settingstest.AssertErrorNames(t, "verify", err, tc.want...)
				return
			}
			if err != nil {
				t.Fatalf("verify: %v\n%s\n%s", err, out, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("verify printed\n%s\nwant %q", out, w)
				}
			}
		})
	}
}
