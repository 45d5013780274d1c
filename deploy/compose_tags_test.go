package deploy

import (
	"fmt"
	"path/filepath"
	"testing"

	"go.yaml.in/yaml/v4"
)

// Compose releases before 5.1.4 (compose-go v2.10.2 and older) drop a
// !reset or !override that sits inside a YAML anchor when the anchor is
// used: the cluster override once reset discovery.type in its shared
// x-es-cluster anchor, and on those releases both nodes kept single-node
// and restarted forever. compose-go v2.16.2, which the other tests load
// with, applies such tags, so only the raw YAML shows the problem.

// composeFiles are every compose file of the repository.
var composeFiles = []string{"docker-compose.yml", "docker-compose.cluster.yml"}

// anchoredTags returns every !reset or !override inside an anchored node
// (an x- extension or any other &anchor) of the YAML document src.
func anchoredTags(src []byte) ([]string, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, err
	}
	var found []string
	var walk func(n *yaml.Node, anchor string)
	walk = func(n *yaml.Node, anchor string) {
		if n.Anchor != "" && anchor == "" {
			anchor = n.Anchor
		}
		if anchor != "" && (n.Tag == "!reset" || n.Tag == "!override") {
			found = append(found, fmt.Sprintf("line %d: %s inside anchor &%s", n.Line, n.Tag, anchor))
		}
		for _, c := range n.Content {
			walk(c, anchor)
		}
	}
	walk(&doc, "")
	return found, nil
}

func TestComposeNoResetOrOverrideInsideAnAnchor(t *testing.T) {
	root := repoRoot(t)
	for _, f := range composeFiles {
		found, err := anchoredTags(readFile(t, filepath.Join(root, f)))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, where := range found {
			t.Errorf("%s %s: write the tag in each service that needs it (Compose before 5.1.4 drops it)", f, where)
		}
	}
}

// TestAnchoredTagsFindsThem: the check above can fail.
func TestAnchoredTagsFindsThem(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      int
	}{
		{"reset in an x- anchor", "x-es: &es\n  discovery.type: !reset null\nservices:\n  a:\n    environment:\n      <<: *es\n", 1},
		{"override deep in an anchor", "x-k: &k\n  ports: !override\n    - \"1:1\"\n  env:\n    a: !reset null\n", 2},
		{"anchor on a service", "services:\n  a: &a\n    ports: !reset []\n", 1},
		{"tags in services only", "x-es: &es\n  discovery.type: multi-node\nservices:\n  a:\n    ports: !override []\n    environment:\n      <<: *es\n      x: !reset null\n", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			found, err := anchoredTags([]byte(tc.src))
			if err != nil {
				t.Fatal(err)
			}
			if len(found) != tc.want {
				t.Errorf("found %v, want %d", found, tc.want)
			}
		})
	}
}
