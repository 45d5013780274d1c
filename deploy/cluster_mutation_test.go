package deploy

import (
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
)

// mutation changes one thing in a loaded project.
type mutation func(p *types.Project)

func editService(svc string, f func(s *types.ServiceConfig)) mutation {
	return func(p *types.Project) {
		s := p.Services[svc]
		f(&s)
		p.Services[svc] = s
	}
}

func setEnv(svc, key, value string) mutation {
	return editService(svc, func(s *types.ServiceConfig) { s.Environment[key] = &value })
}

func unsetEnv(svc, key string) mutation {
	return editService(svc, func(s *types.ServiceConfig) { delete(s.Environment, key) })
}

// TestClusterChecksCatchEachMistake breaks the cluster one way at a time;
// clusterProblems must name each, or TestClusterComposeHasNoProblems would
// pass on a cluster that does not form, loses data, or leaves a client on
// one broker.
func TestClusterChecksCatchEachMistake(t *testing.T) {
	tests := []struct {
		name   string
		mutate mutation
		want   string // part of the problem reported
	}{
		{"a broker fewer", func(p *types.Project) { delete(p.Services, "kafka-3") }, "2 Kafka brokers"},
		{"a broker without health check", editService("kafka-2", func(s *types.ServiceConfig) { s.HealthCheck = nil }), "kafka-2 has no health check"},
		{"an Elasticsearch node without health check", editService("elasticsearch-2", func(s *types.ServiceConfig) { s.HealthCheck = nil }), "elasticsearch-2 has no health check"},
		{"voters differ", setEnv("kafka-3", "KAFKA_CONTROLLER_QUORUM_VOTERS", "1@kafka:9093,2@kafka-2:9093"), "kafka-3 lists the quorum voters"},
		{"a voter on the wrong port", setEnv("kafka-2", "KAFKA_LISTENERS", "INTERNAL://:19092,HOST://:9192,CONTROLLER://:9094"), "node 2 (kafka-2)"},
		{"a voter that is no broker", func(p *types.Project) {
			for _, b := range []string{"kafka", "kafka-2", "kafka-3"} {
				setEnv(b, "KAFKA_CONTROLLER_QUORUM_VOTERS", "1@kafka:9093,2@kafka-2:9093,3@kafka-3:9093,4@kafka-4:9093")(p)
			}
		}, "node 4, which no broker is"},
		{"two brokers with one node id", setEnv("kafka-3", "KAFKA_NODE_ID", "2"), "both KAFKA_NODE_ID 2"},
		{"a broker that is no controller", setEnv("kafka-3", "KAFKA_PROCESS_ROLES", "broker"), "KAFKA_PROCESS_ROLES"},
		{"two brokers advertise one address", setEnv("kafka-3", "KAFKA_ADVERTISED_LISTENERS", "INTERNAL://kafka-3:19092,HOST://localhost:9192"), "both advertise localhost:9192"},
		{"advertised port not listened on", setEnv("kafka-3", "KAFKA_LISTENERS", "INTERNAL://:19092,HOST://:9393,CONTROLLER://:9093"), "but listens on"},
		{"host listener not published", editService("kafka-3", func(s *types.ServiceConfig) { s.Ports = nil }), "host port 9292 is published by \"\""},
		{"a host port twice", editService("kafka-3", func(s *types.ServiceConfig) { s.Ports = s.Ports[:1]; s.Ports[0].Published = "9192" }), "both publish host port 9192"},
		{"two brokers on one volume", editService("kafka-3", func(s *types.ServiceConfig) { s.Volumes[0].Source = "kafka-2-data" }), "share volume kafka-2-data"},
		{"producer on one broker", setEnv("producer", "KAFKA_BROKERS", "kafka:19092"), "producer: KAFKA_BROKERS"},
		{"consumer without a broker", setEnv("consumer", "KAFKA_BROKERS", "kafka:19092,kafka-2:19092"), "consumer: KAFKA_BROKERS"},
		{"setup on one broker", setEnv("setup", "KAFKA_BROKERS", "kafka:19092"), "setup: KAFKA_BROKERS"},
		{"logstash without a broker", setEnv("logstash", "KAFKA_BOOTSTRAP", "kafka:19092,kafka-3:19092"), "logstash: KAFKA_BOOTSTRAP"},
		{"kafka-ui on one broker", setEnv("kafka-ui", "KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS", "kafka:19092"), "kafka-ui: KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS"},
		{"replication beyond the brokers", setEnv("setup", "KAFKA_TOPIC_REPLICATION_FACTOR", "4"), "want 2 <= min ISR < RF <= 3 brokers"},
		{"min ISR that stops writes with a broker down", setEnv("setup", "DLQ_TOPIC_MIN_INSYNC_REPLICAS", "3"), "DLQ_TOPIC_MIN_INSYNC_REPLICAS 3"},
		{"one acknowledged copy", setEnv("setup", "KAFKA_TOPIC_MIN_INSYNC_REPLICAS", "1"), "KAFKA_TOPIC_MIN_INSYNC_REPLICAS 1"},
		{"setup without a layout", unsetEnv("setup", "DLQ_TOPIC_REPLICATION_FACTOR"), "setup: DLQ_TOPIC_REPLICATION_FACTOR = \"\""},
		{"producer would create another layout", unsetEnv("producer", "KAFKA_TOPIC_REPLICATION_FACTOR"), "producer creates with KAFKA_TOPIC_REPLICATION_FACTOR"},
		{"consumer would create another layout", setEnv("consumer", "DLQ_TOPIC_MIN_INSYNC_REPLICAS", "1"), "consumer creates with DLQ_TOPIC_MIN_INSYNC_REPLICAS"},
		{"offsets topic on one replica", setEnv("kafka", "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1"), "kafka: KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"},
		{"a broker's min ISR", setEnv("kafka-2", "KAFKA_MIN_INSYNC_REPLICAS", "1"), "kafka-2: KAFKA_MIN_INSYNC_REPLICAS"},
		{"transaction log min ISR", setEnv("kafka-3", "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1"), "kafka-3: KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"},
		{"an Elasticsearch node fewer", func(p *types.Project) { delete(p.Services, "elasticsearch-2") }, "1 Elasticsearch nodes"},
		{"two clusters", setEnv("elasticsearch-2", "cluster.name", "other"), "elasticsearch-2: cluster.name \"other\""},
		{"single-node discovery left on", setEnv("elasticsearch", "discovery.type", "single-node"), "discovery.type single-node"},
		{"a node that seeds nobody", setEnv("elasticsearch-2", "discovery.seed_hosts", "elasticsearch-3"), "elasticsearch-2: discovery.seed_hosts"},
		{"initial master that does not exist", setEnv("elasticsearch", "cluster.initial_master_nodes", "orderpipe-es03"), "cluster.initial_master_nodes [orderpipe-es03]"},
		{"initial masters on a data node", setEnv("elasticsearch-2", "cluster.initial_master_nodes", "orderpipe-es01"), "elasticsearch-2 is not master-eligible"},
		{"no master-eligible node", setEnv("elasticsearch", "node.roles", "data"), "no master-eligible"},
		{"two nodes of one name", setEnv("elasticsearch-2", "node.name", "orderpipe-es01"), "both node.name orderpipe-es01"},
		{"two nodes on one volume", editService("elasticsearch-2", func(s *types.ServiceConfig) { s.Volumes[0].Source = "es-data" }), "share volume es-data"},
		{"no transport TLS", setEnv("elasticsearch-2", "xpack.security.transport.ssl.enabled", "false"), "elasticsearch-2: security is on but transport TLS is not"},
		{"certificates not mounted", editService("elasticsearch", func(s *types.ServiceConfig) { s.Volumes = s.Volumes[:1] }), "elasticsearch mounts nothing at"},
		{"node starts before its certificates", editService("elasticsearch-2", func(s *types.ServiceConfig) { delete(s.DependsOn, "es-certs") }), "elasticsearch-2 does not wait for es-certs"},
		{"consumer on one node", setEnv("consumer", "ES_ADDRESSES", "http://elasticsearch:9200"), "consumer: ES_ADDRESSES"},
		{"setup on one node", setEnv("setup", "ES_ADDRESSES", "http://elasticsearch:9200"), "setup: ES_ADDRESSES"},
		{"logstash hosts comma-separated", setEnv("logstash", "ES_HOSTS", "http://elasticsearch:9200,http://elasticsearch-2:9200"), "logstash: ES_HOSTS"},
		{"kibana on one node", setEnv("kibana", "ELASTICSEARCH_HOSTS", `["http://elasticsearch:9200"]`), "kibana: ELASTICSEARCH_HOSTS"},
		{"setup does not wait for a broker", editService("setup", func(s *types.ServiceConfig) { delete(s.DependsOn, "kafka-3") }), "setup waits for kafka to be healthy but not for kafka-3"},
		{"logstash does not wait for a node", editService("logstash", func(s *types.ServiceConfig) { delete(s.DependsOn, "elasticsearch-2") }), "logstash waits for elasticsearch to be healthy but not for elasticsearch-2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := loadComposeFiles(t, cluster, "COMPOSE_PROFILES=logstash,go-consumer,kafka-ui")
			tc.mutate(p)
			problems := clusterProblems(p)
			for _, problem := range problems {
				if strings.Contains(problem, tc.want) {
					return
				}
			}
			t.Errorf("no problem says %q; problems:\n%s", tc.want, strings.Join(problems, "\n"))
		})
	}
}
