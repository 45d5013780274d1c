package deploy

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/orderpipe/orderpipe/internal/kafka"
	"github.com/orderpipe/orderpipe/internal/settings"
)

// What docker-compose.cluster.yml promises (issue 9): three brokers, so
// that one may fail, and two or more Elasticsearch nodes.
const (
	clusterBrokers = 3
	minESNodes     = 2
	certsDir       = "/usr/share/elasticsearch/config/certs"
)

// The topic layout as setup, the producer and the consumer read it. The
// names are checked against the layouts' own in
// TestClusterTopicLayoutIsOneSetupAccepts.
const (
	ordersRF     = "KAFKA_TOPIC_REPLICATION_FACTOR"
	ordersMinISR = "KAFKA_TOPIC_MIN_INSYNC_REPLICAS"
	dlqRF        = "DLQ_TOPIC_REPLICATION_FACTOR"
	dlqMinISR    = "DLQ_TOPIC_MIN_INSYNC_REPLICAS"
)

// clusterProblems is everything wrong with a project loaded from
// docker-compose.yml and docker-compose.cluster.yml, one sentence each.
func clusterProblems(p *types.Project) []string {
	c := &clusterCheck{p: p}
	for name, svc := range p.Services {
		if svc.Environment["KAFKA_NODE_ID"] != nil {
			c.brokers = append(c.brokers, name)
		}
		if svc.Environment["node.name"] != nil {
			c.nodes = append(c.nodes, name)
		}
	}
	sort.Strings(c.brokers)
	sort.Strings(c.nodes)
	c.checkBrokers()
	c.checkTopicLayout()
	c.checkESNodes()
	c.checkClients()
	c.checkPublishedPorts()
	return c.problems
}

type clusterCheck struct {
	p        *types.Project
	brokers  []string // services that are Kafka brokers
	nodes    []string // services that are Elasticsearch nodes
	problems []string
}

func (c *clusterCheck) bad(format string, args ...any) {
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

// claim records that owner has value; a second owner of it is a problem.
func (c *clusterCheck) claim(seen map[string]string, owner, what, value string) {
	if other, dup := seen[value]; dup {
		c.bad("%s and %s both %s %s", owner, other, what, value)
	}
	seen[value] = owner
}

func (c *clusterCheck) env(svc, key string) string {
	if v := c.p.Services[svc].Environment[key]; v != nil {
		return *v
	}
	return ""
}

// listeners parses a KAFKA_LISTENERS-style value into name -> host:port.
func listeners(value string) map[string]string {
	out := map[string]string{}
	for _, l := range strings.Split(value, ",") {
		if name, addr, ok := strings.Cut(strings.TrimSpace(l), "://"); ok {
			out[name] = addr
		}
	}
	return out
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

func (c *clusterCheck) checkBrokers() {
	if len(c.brokers) != clusterBrokers {
		c.bad("%d Kafka brokers %v, want %d", len(c.brokers), c.brokers, clusterBrokers)
	}
	voters := map[string]string{} // the quorum as the first broker lists it
	ids := map[string]string{}    // node id -> broker
	advertised := map[string]string{}
	for i, b := range c.brokers {
		id := c.env(b, "KAFKA_NODE_ID")
		c.claim(ids, b, "KAFKA_NODE_ID", id)
		if roles := strings.Split(c.env(b, "KAFKA_PROCESS_ROLES"), ","); !slices.Contains(roles, "broker") || !slices.Contains(roles, "controller") {
			c.bad("%s: KAFKA_PROCESS_ROLES %v, want broker and controller", b, roles)
		}
		q := c.env(b, "KAFKA_CONTROLLER_QUORUM_VOTERS")
		if i == 0 {
			for _, v := range strings.Split(q, ",") {
				vid, addr, _ := strings.Cut(v, "@")
				voters[vid] = addr
			}
		} else if first := c.env(c.brokers[0], "KAFKA_CONTROLLER_QUORUM_VOTERS"); q != first {
			c.bad("%s lists the quorum voters %q, %s lists %q", b, q, c.brokers[0], first)
		}
		own := listeners(c.env(b, "KAFKA_LISTENERS"))
		controller := own[c.env(b, "KAFKA_CONTROLLER_LISTENER_NAMES")]
		if want := b + ":" + port(controller); voters[id] != want {
			c.bad("the quorum voters give node %s (%s) as %q, want %s, its controller listener", id, b, voters[id], want)
		}
		for name, addr := range listeners(c.env(b, "KAFKA_ADVERTISED_LISTENERS")) {
			c.claim(advertised, b, "advertise", addr)
			if port(own[name]) != port(addr) {
				c.bad("%s advertises %s://%s but listens on %q", b, name, addr, own[name])
			}
		}
		c.healthy(b)
		c.ownVolume(b, "/var/lib/kafka/data")
	}
	for vid := range voters {
		if _, ok := ids[vid]; !ok {
			c.bad("the quorum voters list node %s, which no broker is", vid)
		}
	}
}

// internalListener is where the other containers reach broker b.
func (c *clusterCheck) internalListener(b string) string {
	return listeners(c.env(b, "KAFKA_ADVERTISED_LISTENERS"))[c.env(b, "KAFKA_INTER_BROKER_LISTENER_NAME")]
}

func (c *clusterCheck) healthy(svc string) {
	if hc := c.p.Services[svc].HealthCheck; hc == nil || hc.Disable || len(hc.Test) == 0 {
		c.bad("%s has no health check", svc)
	}
}

// ownVolume checks that svc keeps its data at target in a volume no other
// service mounts: two brokers on one log directory corrupt each other.
func (c *clusterCheck) ownVolume(svc, target string) {
	for _, v := range c.p.Services[svc].Volumes {
		if v.Target != target {
			continue
		}
		for name, other := range c.p.Services {
			for _, ov := range other.Volumes {
				if name != svc && ov.Source == v.Source {
					c.bad("%s and %s share volume %s", svc, name, v.Source)
				}
			}
		}
		return
	}
	c.bad("%s keeps no volume at %s", svc, target)
}

// checkTopicLayout: the topics setup creates survive a broker (min ISR
// below RF), keep two copies of every acknowledged write, fit on the
// brokers; whoever else may create a topic creates it alike; and the
// brokers' own topics (consumer offsets, transactions) and defaults say
// the same.
func (c *clusterCheck) checkTopicLayout() {
	num := func(svc, key string) int {
		n, err := strconv.Atoi(c.env(svc, key))
		if err != nil {
			c.bad("%s: %s = %q is not a number (unset, %s creates with its default)", svc, key, c.env(svc, key), svc)
		}
		return n
	}
	for _, l := range [][2]string{{ordersRF, ordersMinISR}, {dlqRF, dlqMinISR}} {
		rf, minISR := num("setup", l[0]), num("setup", l[1])
		if minISR < 2 || minISR >= rf || rf > len(c.brokers) {
			c.bad("setup: %s %d and %s %d, want 2 <= min ISR < RF <= %d brokers", l[0], rf, l[1], minISR, len(c.brokers))
		}
	}
	for svc, keys := range map[string][]string{"producer": {ordersRF, ordersMinISR}, "consumer": {dlqRF, dlqMinISR}} {
		if _, ok := c.p.Services[svc]; !ok {
			continue
		}
		for _, k := range keys {
			if c.env(svc, k) != c.env("setup", k) {
				c.bad("%s creates with %s %q, setup with %q", svc, k, c.env(svc, k), c.env("setup", k))
			}
		}
	}
	brokerSide := map[string]string{
		"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR":                 ordersRF,
		"KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR":         ordersRF,
		"KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR": ordersRF,
		"KAFKA_DEFAULT_REPLICATION_FACTOR":                       ordersRF,
		"KAFKA_MIN_INSYNC_REPLICAS":                              ordersMinISR,
		"KAFKA_TRANSACTION_STATE_LOG_MIN_ISR":                    ordersMinISR,
		"KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR":            ordersMinISR,
	}
	for _, b := range c.brokers {
		for key, topicKey := range brokerSide {
			if c.env(b, key) != c.env("setup", topicKey) {
				c.bad("%s: %s = %q, setup's %s = %q", b, key, c.env(b, key), topicKey, c.env("setup", topicKey))
			}
		}
	}
}

func (c *clusterCheck) checkESNodes() {
	if len(c.nodes) < minESNodes {
		c.bad("%d Elasticsearch nodes %v, want at least %d", len(c.nodes), c.nodes, minESNodes)
	}
	var masters, masterNames []string
	names := map[string]string{}
	for _, n := range c.nodes {
		name := c.env(n, "node.name")
		c.claim(names, n, "node.name", name)
		if roles := c.env(n, "node.roles"); roles == "" || slices.Contains(strings.Split(roles, ","), "master") {
			masters = append(masters, n)
			masterNames = append(masterNames, name)
		}
		if cn := c.env(n, "cluster.name"); cn == "" || cn != c.env(c.nodes[0], "cluster.name") {
			c.bad("%s: cluster.name %q, %s has %q", n, cn, c.nodes[0], c.env(c.nodes[0], "cluster.name"))
		}
		if dt := c.env(n, "discovery.type"); dt != "" && dt != "multi-node" {
			c.bad("%s: discovery.type %s keeps it out of the cluster", n, dt)
		}
		seeds := strings.Split(c.env(n, "discovery.seed_hosts"), ",")
		for _, other := range c.nodes {
			if other != n && !slices.Contains(seeds, other) {
				c.bad("%s: discovery.seed_hosts %v does not list %s", n, seeds, other)
			}
		}
		if c.env(n, "xpack.security.enabled") == "true" {
			c.checkTransportTLS(n)
		}
		c.healthy(n)
		c.ownVolume(n, "/usr/share/elasticsearch/data")
	}
	if len(masters) == 0 {
		c.bad("no master-eligible Elasticsearch node")
	}
	slices.Sort(masterNames)
	for _, n := range c.nodes {
		initial := c.env(n, "cluster.initial_master_nodes")
		if !slices.Contains(masters, n) {
			if initial != "" {
				c.bad("%s is not master-eligible but sets cluster.initial_master_nodes", n)
			}
			continue
		}
		listed := strings.Split(initial, ",")
		slices.Sort(listed)
		if !slices.Equal(listed, masterNames) {
			c.bad("%s: cluster.initial_master_nodes %v, want the master-eligible nodes %v", n, listed, masterNames)
		}
	}
}

// checkTransportTLS: a cluster of several nodes with security on does not
// start without TLS between its nodes (a bootstrap check), and the
// keystore must be there before the node starts.
func (c *clusterCheck) checkTransportTLS(n string) {
	if c.env(n, "xpack.security.transport.ssl.enabled") != "true" || c.env(n, "xpack.security.transport.ssl.keystore.path") == "" {
		c.bad("%s: security is on but transport TLS is not (enabled %q, keystore %q)", n,
			c.env(n, "xpack.security.transport.ssl.enabled"), c.env(n, "xpack.security.transport.ssl.keystore.path"))
	}
	svc := c.p.Services[n]
	i := slices.IndexFunc(svc.Volumes, func(v types.ServiceVolumeConfig) bool { return v.Target == certsDir })
	if i < 0 {
		c.bad("%s mounts nothing at %s", n, certsDir)
		return
	}
	for name, other := range c.p.Services {
		for _, v := range other.Volumes {
			if v.Source == svc.Volumes[i].Source && !v.ReadOnly {
				if d, ok := svc.DependsOn[name]; !ok || d.Condition != types.ServiceConditionCompletedSuccessfully {
					c.bad("%s does not wait for %s, which writes its certificates, to complete", n, name)
				}
			}
		}
	}
}

// checkClients: every client lists every broker and node, so that it
// starts with any one of them down, and waits for all of them to be
// healthy where it waited for the first.
func (c *clusterCheck) checkClients() {
	var brokers, nodeURLs []string
	for _, b := range c.brokers {
		brokers = append(brokers, c.internalListener(b))
	}
	for _, n := range c.nodes {
		nodeURLs = append(nodeURLs, "http://"+n+":9200")
	}
	comma := func(s string) []string { return strings.Split(s, ",") }
	jsonList := func(s string) []string {
		var l []string
		_ = json.Unmarshal([]byte(s), &l)
		return l
	}
	for _, client := range []struct {
		svc, key string
		split    func(string) []string
		want     []string
	}{
		{"setup", "KAFKA_BROKERS", comma, brokers},
		{"producer", "KAFKA_BROKERS", comma, brokers},
		{"consumer", "KAFKA_BROKERS", comma, brokers},
		{"logstash", "KAFKA_BOOTSTRAP", comma, brokers},
		{"kafka-ui", "KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS", comma, brokers},
		{"setup", "ES_ADDRESSES", comma, nodeURLs},
		{"consumer", "ES_ADDRESSES", comma, nodeURLs},
		// The pipeline's hosts => ["${ES_HOSTS}"] splits on spaces.
		{"logstash", "ES_HOSTS", strings.Fields, nodeURLs},
		{"kibana", "ELASTICSEARCH_HOSTS", jsonList, nodeURLs},
	} {
		if _, ok := c.p.Services[client.svc]; !ok {
			continue // not in this profile set
		}
		got := client.split(c.env(client.svc, client.key))
		slices.Sort(got)
		if want := slices.Sorted(slices.Values(client.want)); !slices.Equal(got, want) {
			c.bad("%s: %s lists %v, want %v", client.svc, client.key, got, want)
		}
	}
	for name, svc := range c.p.Services {
		for first, all := range map[string][]string{"kafka": c.brokers, "elasticsearch": c.nodes} {
			d, ok := svc.DependsOn[first]
			if !ok || d.Condition != types.ServiceConditionHealthy || !slices.Contains(all, first) {
				continue
			}
			for _, other := range all {
				if od, ok := svc.DependsOn[other]; !ok || od.Condition != types.ServiceConditionHealthy {
					c.bad("%s waits for %s to be healthy but not for %s", name, first, other)
				}
			}
		}
	}
}

// checkPublishedPorts: no host port twice, and each broker's host
// listener is published on the port it advertises.
func (c *clusterCheck) checkPublishedPorts() {
	published := map[string]string{}
	for name, svc := range c.p.Services {
		for _, pt := range svc.Ports {
			c.claim(published, name, "publish host port", pt.Published)
		}
	}
	for _, b := range c.brokers {
		for name, addr := range listeners(c.env(b, "KAFKA_ADVERTISED_LISTENERS")) {
			if host, p, _ := net.SplitHostPort(addr); host == "localhost" && published[p] != b {
				c.bad("%s advertises %s://%s to the host, but host port %s is published by %q", b, name, addr, p, published[p])
			}
		}
	}
}

func TestClusterComposeHasNoProblems(t *testing.T) {
	for _, pc := range profileCases {
		t.Run(pc.name, func(t *testing.T) {
			for _, problem := range clusterProblems(loadComposeFiles(t, cluster, pc.env...)) {
				t.Error(problem)
			}
		})
	}
}

// The single-node stack is not a cluster: the checks must say so, or
// they would pass on anything.
func TestClusterChecksRejectTheSingleNodeStack(t *testing.T) {
	problems := strings.Join(clusterProblems(loadCompose(t, "COMPOSE_PROFILES=logstash,go-consumer")), "\n")
	for _, want := range []string{"1 Kafka brokers", "1 Elasticsearch nodes", "setup: KAFKA_TOPIC_REPLICATION_FACTOR 0"} {
		if !strings.Contains(problems, want) {
			t.Errorf("the single-node stack passes as a cluster on %q; problems:\n%s", want, problems)
		}
	}
}

// setup, the producer and the consumer accept the cluster's layout, read
// under the names the checks above use.
func TestClusterTopicLayoutIsOneSetupAccepts(t *testing.T) {
	p := loadComposeFiles(t, cluster, "COMPOSE_PROFILES=logstash,go-consumer")
	var layouts struct {
		kafka.TopicLayout
		kafka.DLQLayout
	}
	for _, v := range settings.Variables(&layouts) {
		t.Setenv(v.Name, "") // restores the caller's value afterwards
		if value := p.Services["setup"].Environment[v.Name]; value != nil {
			t.Setenv(v.Name, *value)
		} else {
			os.Unsetenv(v.Name) // unset, not empty: envconfig only defaults what is unset
		}
	}
	if err := settings.Load(&layouts); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{layouts.TopicLayout.Validate(), layouts.DLQLayout.Validate()} {
		if err != nil {
			t.Fatalf("setup refuses the cluster's layout: %v", err)
		}
	}
	orders, dlq := layouts.TopicLayout.Spec("orders"), layouts.DLQLayout.Spec("orders.dlq")
	for _, tc := range []struct {
		variable string
		got      int
	}{
		{ordersRF, orders.ReplicationFactor}, {ordersMinISR, orders.MinInsyncReplicas},
		{dlqRF, dlq.ReplicationFactor}, {dlqMinISR, dlq.MinInsyncReplicas},
	} {
		if want := env(t, p, "setup", tc.variable); strconv.Itoa(tc.got) != want {
			t.Errorf("setup reads %s as %d, compose sets %q", tc.variable, tc.got, want)
		}
	}
}
