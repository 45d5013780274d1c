package main

// The Elasticsearch security part of orderctl setup: the kibana_system
// password, the orderpipe_writer role and the users that hold it, and the
// read-only orderpipe_reader role and the dashboard's user.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"

	"github.com/elastic/go-elasticsearch/v8/typedapi/security/changepassword"
	"github.com/elastic/go-elasticsearch/v8/typedapi/security/putrole"
	"github.com/elastic/go-elasticsearch/v8/typedapi/security/putuser"

	"github.com/orderpipe/orderpipe/deploy"
	"github.com/orderpipe/orderpipe/internal/elastic"
)

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
		if elastic.PatternsCover(ip.Names, index) {
			return req, nil
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
func setupSecurity(ctx context.Context, esc *elastic.Client, cfg setupConfig, stdout io.Writer) error {
	if cfg.KibanaPassword != "" {
		body, err := json.Marshal(&changepassword.Request{Password: &cfg.KibanaPassword})
		if err != nil {
			return fmt.Errorf("encode kibana_system password: %w", err)
		}
		if err := esc.ChangePassword(ctx, "kibana_system", body); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "user kibana_system: password applied")
	}
	if cfg.LogstashPassword == "" && cfg.ConsumerPassword == "" && cfg.DashboardPassword == "" {
		if cfg.KibanaPassword == "" {
			fmt.Fprintln(stdout, "security: skipped (no passwords set)")
		}
		return nil
	}
	writerRole, err := writerRoleRequest(cfg.Index, stdout)
	if err != nil {
		return err
	}
	readerRole := putrole.NewRequest()
	if err := json.Unmarshal(deploy.ReaderRole, readerRole); err != nil {
		return fmt.Errorf("decode role %s: %w", deploy.ReaderRoleName, err)
	}
	// A role is made only when one of its users is, so a stack without a
	// dashboard gets no reader role it does not use.
	for _, r := range []struct {
		role  string
		body  *putrole.Request
		users []user
	}{
		{deploy.WriterRoleName, writerRole, []user{{"logstash_writer", cfg.LogstashPassword}, {"orderpipe_consumer", cfg.ConsumerPassword}}},
		{deploy.ReaderRoleName, readerRole, []user{{"orderpipe_dashboard", cfg.DashboardPassword}}},
	} {
		if !slices.ContainsFunc(r.users, func(u user) bool { return u.password != "" }) {
			continue
		}
		body, err := json.Marshal(r.body)
		if err != nil {
			return fmt.Errorf("encode role %s: %w", r.role, err)
		}
		created, err := esc.PutRole(ctx, r.role, body)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "role %s: %s\n", r.role, createdOr(created, "applied"))
		for _, u := range r.users {
			if u.password == "" {
				continue
			}
			fullName := "orderpipe " + u.name
			body, err := json.Marshal(&putuser.Request{Password: &u.password, Roles: []string{r.role}, FullName: &fullName})
			if err != nil {
				return fmt.Errorf("encode user %s: %w", u.name, err)
			}
			created, err := esc.PutUser(ctx, u.name, body)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "user %s: %s\n", u.name, createdOr(created, "applied"))
		}
	}
	return nil
}

// user is a user setup creates when its password is set.
type user struct{ name, password string }

func createdOr(created bool, otherwise string) string {
	if created {
		return "created"
	}
	return otherwise
}
