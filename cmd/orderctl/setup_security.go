package main

// The Elasticsearch security part of orderctl setup: the kibana_system
// password, the orderpipe_writer role and the users that hold it.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"

	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// writerRole is what Logstash and the Go consumer may do: write and create
// order indices; monitor lets them check the cluster at start.
func writerRole(index string) map[string]any {
	return map[string]any{
		"cluster": []string{"monitor"},
		"indices": []any{map[string]any{
			"names":      []string{index + "*"},
			"privileges": []string{"write", "create_index", "manage", "view_index_metadata"},
		}},
	}
}

// setupSecurity sets the kibana_system password and creates the writer role
// and users, each only when its password is set. Every call is an upsert,
// made on every run: what exists already is written again ("applied") with
// the same content, so a rerun leaves it as it was (a changed password in
// the environment is applied too).
func setupSecurity(ctx context.Context, client *es.Client, cfg setupConfig, stdout io.Writer) error {
	if cfg.KibanaPassword != "" {
		body, _ := json.Marshal(map[string]string{"password": cfg.KibanaPassword})
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
	body, _ := json.Marshal(writerRole(cfg.Index))
	var role struct {
		Role struct {
			Created bool `json:"created"`
		} `json:"role"`
	}
	res, err := esapi.SecurityPutRoleRequest{Name: "orderpipe_writer", Body: bytes.NewReader(body)}.Do(ctx, client)
	if err := esResult(res, err, &role); err != nil {
		return fmt.Errorf("put role orderpipe_writer: %w", err)
	}
	fmt.Fprintf(stdout, "role orderpipe_writer: %s\n", createdOr(role.Role.Created, "applied"))
	for _, u := range users {
		if u.password == "" {
			continue
		}
		body, _ := json.Marshal(map[string]any{"password": u.password, "roles": []string{"orderpipe_writer"}, "full_name": "orderpipe " + u.name})
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
