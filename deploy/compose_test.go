package deploy

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// loadCompose loads docker-compose.yml the way `docker compose` does: .env
// from the project directory, then env (e.g. COMPOSE_PROFILES=...) on top,
// then profiles from COMPOSE_PROFILES. The OS environment is deliberately not
// used, so the result does not depend on the machine running the tests.
func loadCompose(t *testing.T, env ...string) *types.Project {
	t.Helper()
	return loadComposeFiles(t, singleNode, env...)
}

// The stacks: each is docker-compose.yml, alone or with overrides on top
// (`docker compose -f docker-compose.yml -f docker-compose.cluster.yml`).
var (
	singleNode = []string{"docker-compose.yml"}
	cluster    = []string{"docker-compose.yml", "docker-compose.cluster.yml"}
	stacks     = []struct {
		name  string
		files []string
	}{{"single node", singleNode}, {"cluster", cluster}}
)

// loadComposeFiles loads files, later ones overriding earlier ones, as
// loadCompose loads docker-compose.yml.
func loadComposeFiles(t *testing.T, files []string, env ...string) *types.Project {
	t.Helper()
	root := repoRoot(t)
	var paths []string
	for _, f := range files {
		paths = append(paths, filepath.Join(root, f))
	}
	opts, err := cli.NewProjectOptions(
		paths,
		cli.WithWorkingDirectory(root),
		cli.WithEnvFiles(),
		cli.WithDotEnv,
		cli.WithEnv(env),
		cli.WithDefaultProfiles(),
	)
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("%v do not load/validate (env %v): %v", files, env, err)
	}
	return p
}

type profileCase struct {
	name      string
	env       []string
	want      []string
	wantNot   []string
	ingestSvc string
}

var profileCases = []profileCase{
	{
		name:      "default",
		want:      []string{"kafka", "elasticsearch", "setup", "kibana", "producer", "logstash"},
		wantNot:   []string{"consumer", "kafka-ui"},
		ingestSvc: "logstash",
	},
	{
		name:      "go-consumer",
		env:       []string{"COMPOSE_PROFILES=go-consumer"},
		want:      []string{"kafka", "elasticsearch", "setup", "kibana", "producer", "consumer"},
		wantNot:   []string{"logstash", "kafka-ui"},
		ingestSvc: "consumer",
	},
	{
		name:      "logstash+kafka-ui",
		env:       []string{"COMPOSE_PROFILES=logstash,kafka-ui"},
		want:      []string{"kafka", "elasticsearch", "setup", "kibana", "producer", "logstash", "kafka-ui"},
		wantNot:   []string{"consumer"},
		ingestSvc: "logstash",
	},
	{
		name:      "go-consumer+kafka-ui",
		env:       []string{"COMPOSE_PROFILES=go-consumer,kafka-ui"},
		want:      []string{"kafka", "elasticsearch", "setup", "kibana", "producer", "consumer", "kafka-ui"},
		wantNot:   []string{"logstash"},
		ingestSvc: "consumer",
	},
}

// forEachProfile runs f on every stack under every profile set.
func forEachProfile(t *testing.T, f func(t *testing.T, p *types.Project, pc profileCase)) {
	t.Helper()
	for _, st := range stacks {
		for _, pc := range profileCases {
			t.Run(st.name+"/"+pc.name, func(t *testing.T) {
				f(t, loadComposeFiles(t, st.files, pc.env...), pc)
			})
		}
	}
}

func TestComposeProfilesSelectExactlyOneIngestPath(t *testing.T) {
	forEachProfile(t, func(t *testing.T, p *types.Project, pc profileCase) {
		for _, s := range pc.want {
			if _, ok := p.Services[s]; !ok {
				t.Errorf("service %s does not run (services: %v)", s, p.ServiceNames())
			}
		}
		for _, s := range pc.wantNot {
			if _, ok := p.Services[s]; ok {
				t.Errorf("service %s runs but must not", s)
			}
		}
		ingest := 0
		for _, s := range []string{"logstash", "consumer"} {
			if _, ok := p.Services[s]; ok {
				ingest++
			}
		}
		if ingest != 1 {
			t.Errorf("%d ingest paths run, want exactly 1 (%s)", ingest, pc.ingestSvc)
		}
	})
}

// oneShots run once and exit: no health check, no restart.
var oneShots = []string{"setup", "es-certs"}

func TestComposeServices(t *testing.T) {
	forEachProfile(t, func(t *testing.T, p *types.Project, _ profileCase) {
		for name, svc := range p.Services {
			// Healthchecks: one-shots exit; everything else runs long.
			if slices.Contains(oneShots, name) {
				if svc.Restart != "" && svc.Restart != "no" {
					t.Errorf("%s is one-shot, restart = %q", name, svc.Restart)
				}
			} else if hc := svc.HealthCheck; hc == nil || hc.Disable || len(hc.Test) == 0 {
				t.Errorf("%s: long-running service without a healthcheck", name)
			}
			for _, port := range svc.Ports {
				if port.HostIP != "127.0.0.1" {
					t.Errorf("%s publishes %s:%d on %q, want 127.0.0.1", name, port.Published, port.Target, port.HostIP)
				}
			}
			for _, v := range svc.Volumes {
				if v.Type == types.VolumeTypeVolume {
					if _, ok := p.Volumes[v.Source]; !ok {
						t.Errorf("%s mounts undeclared volume %q", name, v.Source)
					}
				}
			}
		}
	})
}

func dependsOn(t *testing.T, p *types.Project, svc, dep, condition string) {
	t.Helper()
	s, ok := p.Services[svc]
	if !ok {
		return // not in this profile set
	}
	d, ok := s.DependsOn[dep]
	if !ok {
		t.Errorf("%s does not depend on %s", svc, dep)
		return
	}
	if d.Condition != condition {
		t.Errorf("%s depends on %s with condition %q, want %q", svc, dep, d.Condition, condition)
	}
}

func TestComposeStartOrder(t *testing.T) {
	forEachProfile(t, func(t *testing.T, p *types.Project, _ profileCase) {
		dependsOn(t, p, "setup", "kafka", types.ServiceConditionHealthy)
		dependsOn(t, p, "setup", "elasticsearch", types.ServiceConditionHealthy)
		// setup must never wait for Kibana's health: Kibana cannot be
		// healthy before setup sets the kibana_system password.
		if _, ok := p.Services["setup"].DependsOn["kibana"]; ok {
			t.Error("setup depends on kibana: deadlock (setup waits for Kibana itself)")
		}
		// ...and Kibana must not wait for setup to complete, since setup
		// waits for Kibana to import the saved objects.
		dependsOn(t, p, "kibana", "setup", types.ServiceConditionStarted)
		dependsOn(t, p, "kibana", "elasticsearch", types.ServiceConditionHealthy)
		for _, s := range []string{"logstash", "producer", "consumer"} {
			dependsOn(t, p, s, "setup", types.ServiceConditionCompletedSuccessfully)
		}
		dependsOn(t, p, "kafka-ui", "kafka", types.ServiceConditionHealthy)
	})
}

func TestComposeImagesUseEnvVersions(t *testing.T) {
	p := loadCompose(t, "COMPOSE_PROFILES=logstash,go-consumer,kafka-ui")
	es, kafka := p.Environment["ELASTIC_VERSION"], p.Environment["KAFKA_VERSION"]
	if es == "" || kafka == "" {
		t.Fatalf(".env must pin ELASTIC_VERSION and KAFKA_VERSION (got %q, %q)", es, kafka)
	}
	if es != "8.19.21" || kafka != "4.4.0" {
		t.Errorf(".env pins ELASTIC_VERSION=%s KAFKA_VERSION=%s, want 8.19.21 and 4.4.0", es, kafka)
	}
	want := map[string]string{
		"elasticsearch": "docker.elastic.co/elasticsearch/elasticsearch:" + es,
		"kibana":        "docker.elastic.co/kibana/kibana:" + es,
		"logstash":      "docker.elastic.co/logstash/logstash:" + es,
		"kafka":         "apache/kafka:" + kafka,
	}
	for svc, image := range want {
		if got := p.Services[svc].Image; got != image {
			t.Errorf("%s image = %q, want %q", svc, got, image)
		}
	}
	for name, svc := range p.Services {
		if svc.Build != nil {
			continue
		}
		if !strings.Contains(svc.Image, ":") || strings.HasSuffix(svc.Image, ":latest") {
			t.Errorf("%s image %q is not pinned", name, svc.Image)
		}
	}
	for _, key := range []string{"ELASTIC_PASSWORD", "KIBANA_PASSWORD", "LOGSTASH_WRITER_PASSWORD", "CONSUMER_ES_PASSWORD", "ORDERPIPE_CLUSTER_ID", "KIBANA_ENCRYPTION_KEY"} {
		if p.Environment[key] == "" {
			t.Errorf(".env does not set %s", key)
		}
	}
	if k := p.Environment["KIBANA_ENCRYPTION_KEY"]; len(k) < 32 {
		t.Errorf("KIBANA_ENCRYPTION_KEY must have at least 32 characters, has %d", len(k))
	}
	if got := p.Services["kafka"].Environment["CLUSTER_ID"]; got == nil || *got != p.Environment["ORDERPIPE_CLUSTER_ID"] {
		t.Errorf("kafka CLUSTER_ID = %v, want ORDERPIPE_CLUSTER_ID from .env", got)
	}
}

// env returns a service's environment variable, failing if it is missing.
func env(t *testing.T, p *types.Project, svc, key string) string {
	t.Helper()
	s, ok := p.Services[svc]
	if !ok {
		t.Fatalf("no service %s", svc)
	}
	v, ok := s.Environment[key]
	if !ok || v == nil {
		t.Errorf("%s: environment variable %s is not set", svc, key)
		return ""
	}
	return *v
}

func TestComposeEnvironmentAgreesWithContract(t *testing.T) {
	p := loadCompose(t, "COMPOSE_PROFILES=logstash,go-consumer")
	check := func(svc, key, want string) {
		t.Helper()
		if got := env(t, p, svc, key); got != want {
			t.Errorf("%s %s = %q, want %q", svc, key, got, want)
		}
	}
	// Kafka listeners: containers use kafka:19092, the host localhost:9092.
	adv := env(t, p, "kafka", "KAFKA_ADVERTISED_LISTENERS")
	if !strings.Contains(adv, "://"+contract.InternalBootstrap) || !strings.Contains(adv, "://"+contract.HostBootstrap) {
		t.Errorf("kafka advertises %q, want both %s and %s", adv, contract.InternalBootstrap, contract.HostBootstrap)
	}
	for _, svc := range []string{"producer", "consumer", "setup"} {
		check(svc, "KAFKA_BROKERS", contract.InternalBootstrap)
	}
	check("logstash", "KAFKA_BOOTSTRAP", contract.InternalBootstrap)
	check("producer", "KAFKA_TOPIC", contract.Topic)
	check("consumer", "KAFKA_TOPIC", contract.Topic)
	check("setup", "KAFKA_TOPIC", contract.Topic)
	check("setup", "KAFKA_TOPIC_PARTITIONS", contract.OrdersPartitions)
	check("consumer", "CONSUMER_GROUP", contract.ConsumerGroup)
	check("consumer", "DLQ_TOPIC", contract.DLQTopic)
	check("setup", "DLQ_TOPIC", contract.DLQTopic)
	check("consumer", "ES_INDEX", contract.Index)
	check("setup", "ES_INDEX", contract.Index)
	check("consumer", "ES_ADDRESSES", contract.ESURL)
	check("setup", "ES_ADDRESSES", contract.ESURL)
	check("logstash", "ES_HOSTS", contract.ESURL)
	check("consumer", "ES_USERNAME", contract.ConsumerESUser)
	check("consumer", "ES_PASSWORD", p.Environment["CONSUMER_ES_PASSWORD"])
	check("logstash", "LOGSTASH_WRITER_USER", contract.LogstashWriterUser)
	check("logstash", "LOGSTASH_WRITER_PASSWORD", p.Environment["LOGSTASH_WRITER_PASSWORD"])
	check("setup", "ES_USERNAME", "elastic")
	check("setup", "ES_PASSWORD", p.Environment["ELASTIC_PASSWORD"])
	check("setup", "KIBANA_URL", contract.KibanaURL)
	check("setup", "KIBANA_PASSWORD", p.Environment["KIBANA_PASSWORD"])
	check("setup", "LOGSTASH_WRITER_PASSWORD", p.Environment["LOGSTASH_WRITER_PASSWORD"])
	check("setup", "CONSUMER_ES_PASSWORD", p.Environment["CONSUMER_ES_PASSWORD"])
	check("kibana", "ELASTICSEARCH_USERNAME", "kibana_system")
	check("kibana", "ELASTICSEARCH_PASSWORD", p.Environment["KIBANA_PASSWORD"])
	check("producer", "OPS_ADDR", contract.ProducerOpsAddr)
	check("consumer", "OPS_ADDR", contract.ConsumerOpsAddr)
	check("producer", "PRODUCER_BACKFILL_DAYS", "1")
	if env(t, p, "producer", "PRODUCER_RATE") == "" {
		t.Error("producer PRODUCER_RATE is empty")
	}
	if got := p.Services["setup"].Command; !slices.Equal([]string(got), []string{"setup"}) {
		t.Errorf("setup command = %v, want [setup]", got)
	}
	for svc, bin := range map[string]string{"producer": "/usr/local/bin/producer", "consumer": "/usr/local/bin/consumer"} {
		hc := p.Services[svc].HealthCheck
		if hc == nil || !slices.Equal([]string(hc.Test), []string{"CMD", bin, "healthcheck"}) {
			t.Errorf("%s healthcheck = %v, want [CMD %s healthcheck] (distroless: no shell, no curl)", svc, hc, bin)
		}
	}
	// --scale consumer=N needs no fixed host port and no container_name.
	if c := p.Services["consumer"]; len(c.Ports) != 0 || c.ContainerName != "" {
		t.Errorf("consumer has ports %v / container_name %q: it could not be scaled", c.Ports, c.ContainerName)
	}
	// --scale producer=N (load testing): its ops port is a host range.
	if pr := p.Services["producer"]; pr.ContainerName != "" || len(pr.Ports) != 1 || !strings.Contains(pr.Ports[0].Published, "-") {
		t.Errorf("producer has ports %v / container_name %q: it could not be scaled", pr.Ports, pr.ContainerName)
	}
}

func TestComposeBuildsFromTheOneDockerfile(t *testing.T) {
	p := loadCompose(t, "COMPOSE_PROFILES=logstash,go-consumer")
	root := repoRoot(t)
	stages := dockerfileStageNames(t)
	for _, svc := range []string{"producer", "consumer", "setup"} {
		b := p.Services[svc].Build
		if b == nil {
			t.Errorf("%s is not built", svc)
			continue
		}
		if b.Context != root {
			t.Errorf("%s build context %q, want the repository root", svc, b.Context)
		}
		if b.Dockerfile != "deploy/docker/Dockerfile" {
			t.Errorf("%s dockerfile %q, want deploy/docker/Dockerfile", svc, b.Dockerfile)
		}
		if b.Target != svc {
			t.Errorf("%s build target %q, want %q", svc, b.Target, svc)
		}
		if !slices.Contains(stages, b.Target) {
			t.Errorf("%s build target %q is not a stage of the Dockerfile (%v)", svc, b.Target, stages)
		}
	}
}

func TestComposeLogstashMountsExist(t *testing.T) {
	p := loadCompose(t)
	root := repoRoot(t)
	for _, v := range p.Services["logstash"].Volumes {
		if v.Type != types.VolumeTypeBind {
			continue
		}
		rel, err := filepath.Rel(root, v.Source)
		if err != nil || strings.HasPrefix(rel, "..") {
			t.Errorf("logstash bind mount %s is outside the repository", v.Source)
			continue
		}
		readFileOrDir(t, v.Source)
		if !v.ReadOnly {
			t.Errorf("logstash bind mount %s should be read-only", rel)
		}
		// Without the private relabel, SELinux hosts deny the container
		// reading the files (docker-elk mounts the same way).
		if v.Bind == nil || v.Bind.SELinux != types.SELinuxPrivate {
			t.Errorf("logstash bind mount %s lacks :Z for SELinux hosts (bind options %+v)", rel, v.Bind)
		}
	}
}

func readFileOrDir(t *testing.T, path string) {
	t.Helper()
	if _, err := filepath.Glob(path); err != nil {
		t.Error(err)
	}
	if _, err := osStat(path); err != nil {
		t.Errorf("mounted path %s does not exist: %v", path, err)
	}
}

// Docker sends SIGKILL after the stop grace period (10s by default); the
// daemons drain for up to SHUTDOWN_TIMEOUT (15s), so the grace must be longer
// or `docker compose stop` cuts a drain short.
func TestComposeStopGraceOutlastsTheDrain(t *testing.T) {
	p := loadCompose(t, "COMPOSE_PROFILES=go-consumer")
	const drain = 15 * time.Second
	for _, name := range []string{"producer", "consumer"} {
		svc, err := p.GetService(name)
		if err != nil {
			t.Fatal(err)
		}
		if svc.StopGracePeriod == nil || time.Duration(*svc.StopGracePeriod) <= drain {
			t.Errorf("%s: stop_grace_period %v does not outlast the %v drain", name, svc.StopGracePeriod, drain)
		}
	}
}

// The Kafka health check runs the CLI, a JVM of its own, inside the broker's
// container: inheriting the broker's KAFKA_HEAP_OPTS would let it reserve as
// much heap as the broker next to it, in the same memory limit.
func TestComposeKafkaHealthcheckHasASmallHeap(t *testing.T) {
	p := loadCompose(t)
	kafka, err := p.GetService("kafka")
	if err != nil {
		t.Fatal(err)
	}
	hc := kafka.HealthCheck
	if hc == nil || len(hc.Test) != 2 || hc.Test[0] != "CMD-SHELL" {
		t.Fatalf("kafka healthcheck = %v, want a CMD-SHELL command", hc)
	}
	cmd := hc.Test[1]
	tests := []struct {
		name, want string
	}{
		{"own heap, set before the CLI", "KAFKA_HEAP_OPTS=-Xmx64m /opt/kafka/bin/kafka-broker-api-versions.sh "},
		{"asks the broker itself", "--bootstrap-server localhost:9092"},
	}
	for _, tc := range tests {
		if !strings.Contains(cmd, tc.want) {
			t.Errorf("%s: kafka healthcheck %q does not contain %q", tc.name, cmd, tc.want)
		}
	}
	if broker := kafka.Environment["KAFKA_HEAP_OPTS"]; broker == nil || strings.Contains(*broker, "-Xmx64m") {
		t.Errorf("broker KAFKA_HEAP_OPTS = %v, want the broker's own (larger) heap", broker)
	}
}
