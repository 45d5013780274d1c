package deploy

import (
	"strings"
	"testing"
)

// TestClusterKeepsItsOwnData: the cluster override is a project of its
// own, so none of its volumes is a single-node volume. On a shared project
// a cluster started after a single-node run would reuse kafka-data and
// es-data, where orders, orders.dlq and __consumer_offsets have one
// replica each, and "any one broker may fail" would be false.
func TestClusterKeepsItsOwnData(t *testing.T) {
	single := loadComposeFiles(t, singleNode, "COMPOSE_PROFILES=logstash,go-consumer,kafka-ui")
	clus := loadComposeFiles(t, cluster, "COMPOSE_PROFILES=logstash,go-consumer,kafka-ui")
	if single.Name == clus.Name {
		t.Fatalf("both stacks are project %q: the cluster would start on the single node's containers and volumes", single.Name)
	}
	singleVolumes := map[string]bool{}
	for _, v := range single.Volumes {
		singleVolumes[v.Name] = true
	}
	if len(singleVolumes) == 0 {
		t.Fatal("the single-node stack declares no volume")
	}
	for key, v := range clus.Volumes {
		if singleVolumes[v.Name] {
			t.Errorf("cluster volume %s is %s, which the single-node stack uses too", key, v.Name)
		}
	}
}

// kafbat/kafka-ui is the maintained fork of provectuslabs/kafka-ui
// (unmaintained since v0.7.2). Its Spring settings kept the names:
// kafka.clusters[0].bootstrapServers is KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS,
// and /actuator/health stays exposed (api/src/main/resources/application.yml
// at v1.5.0).
func TestComposeKafkaUIIsTheMaintainedFork(t *testing.T) {
	for _, st := range stacks {
		t.Run(st.name, func(t *testing.T) {
			p := loadComposeFiles(t, st.files, "COMPOSE_PROFILES=logstash,kafka-ui")
			ui, ok := p.Services["kafka-ui"]
			if !ok {
				t.Fatal("no kafka-ui service under profile kafka-ui")
			}
			version := p.Environment["KAFKA_UI_VERSION"]
			if version == "" || version == "latest" || !strings.HasPrefix(version, "v") {
				t.Errorf("KAFKA_UI_VERSION = %q, want a pinned release tag", version)
			}
			if want := "kafbat/kafka-ui:" + version; ui.Image != want {
				t.Errorf("kafka-ui image %q, want %q", ui.Image, want)
			}
			for _, key := range []string{"KAFKA_CLUSTERS_0_NAME", "KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS"} {
				if env(t, p, "kafka-ui", key) == "" {
					t.Errorf("kafka-ui %s is empty", key)
				}
			}
			for key := range ui.Environment {
				if strings.HasPrefix(key, "KAFKA_CLUSTERS_") && !strings.HasPrefix(key, "KAFKA_CLUSTERS_0_") {
					t.Errorf("kafka-ui sets %s, but only cluster 0 is defined", key)
				}
			}
			if hc := ui.HealthCheck; hc == nil || !strings.Contains(strings.Join(hc.Test, " "), "/actuator/health") {
				t.Errorf("kafka-ui healthcheck %v does not ask /actuator/health", hc)
			}
		})
	}
}
