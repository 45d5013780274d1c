package deploy

import (
	"context"
	"maps"
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
		want:      []string{"kafka", "elasticsearch", "setup", "kibana", "kibana-setup", "producer", "logstash"},
		wantNot:   []string{"consumer", "kafka-ui", "prometheus"},
		ingestSvc: "logstash",
	},
	{
		name:      "go-consumer",
		env:       []string{"COMPOSE_PROFILES=go-consumer"},
		want:      []string{"kafka", "elasticsearch", "setup", "kibana", "kibana-setup", "producer", "consumer"},
		wantNot:   []string{"logstash", "kafka-ui", "prometheus"},
		ingestSvc: "consumer",
	},
	{
		name:      "logstash+kafka-ui",
		env:       []string{"COMPOSE_PROFILES=logstash,kafka-ui"},
		want:      []string{"kafka", "elasticsearch", "setup", "kibana", "kibana-setup", "producer", "logstash", "kafka-ui"},
		wantNot:   []string{"consumer", "prometheus"},
		ingestSvc: "logstash",
	},
	{
		name:      "go-consumer+kafka-ui",
		env:       []string{"COMPOSE_PROFILES=go-consumer,kafka-ui"},
		want:      []string{"kafka", "elasticsearch", "setup", "kibana", "kibana-setup", "producer", "consumer", "kafka-ui"},
		wantNot:   []string{"logstash", "prometheus"},
		ingestSvc: "consumer",
	},
	{
		name:      "go-consumer+monitoring",
		env:       []string{"COMPOSE_PROFILES=go-consumer,monitoring"},
		want:      []string{"kafka", "elasticsearch", "setup", "kibana", "kibana-setup", "producer", "consumer", "prometheus"},
		wantNot:   []string{"logstash", "kafka-ui"},
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
var oneShots = []string{"setup", "kibana-setup", "es-certs"}

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
		// Kibana cannot become healthy before setup has set the
		// kibana_system password; setup no longer waits for Kibana, so
		// Kibana may wait for setup to complete without a deadlock.
		dependsOn(t, p, "kibana", "setup", types.ServiceConditionCompletedSuccessfully)
		dependsOn(t, p, "kibana", "elasticsearch", types.ServiceConditionHealthy)
		dependsOn(t, p, "kibana-setup", "kibana", types.ServiceConditionHealthy)
		for _, s := range []string{"logstash", "producer", "consumer"} {
			dependsOn(t, p, s, "setup", types.ServiceConditionCompletedSuccessfully)
		}
		dependsOn(t, p, "kafka-ui", "kafka", types.ServiceConditionHealthy)
	})
}

// dependencies returns every service svc waits for, directly or through
// others, each with the chain that leads to it.
func dependencies(p *types.Project, svc string) map[string]string {
	chains := map[string]string{}
	var walk func(s, chain string)
	walk = func(s, chain string) {
		for dep := range p.Services[s].DependsOn {
			if _, seen := chains[dep]; seen {
				continue
			}
			chains[dep] = chain + " -> " + dep
			walk(dep, chains[dep])
		}
	}
	walk(svc, svc)
	return chains
}

// TestComposeIngestDoesNotWaitForKibana: a slow or failing Kibana (1 GiB,
// a few minutes to start) must cost the dashboard, never the orders.
func TestComposeIngestDoesNotWaitForKibana(t *testing.T) {
	forEachProfile(t, func(t *testing.T, p *types.Project, _ profileCase) {
		for _, ingest := range []string{"producer", "logstash", "consumer"} {
			if _, ok := p.Services[ingest]; !ok {
				continue
			}
			deps := dependencies(p, ingest)
			for _, kib := range []string{"kibana", "kibana-setup"} {
				if chain, ok := deps[kib]; ok {
					t.Errorf("%s waits for %s: %s", ingest, kib, chain)
				}
			}
			if _, ok := deps["setup"]; !ok {
				t.Errorf("%s does not wait for setup (topics, users, template)", ingest)
			}
		}
	})
}

// TestDependenciesWalksChains: the walk above finds a dependency two
// services away, so it can fail.
func TestDependenciesWalksChains(t *testing.T) {
	svc := func(name string, deps ...string) types.ServiceConfig {
		s := types.ServiceConfig{Name: name}
		s.DependsOn = types.DependsOnConfig{}
		for _, d := range deps {
			s.DependsOn[d] = types.ServiceDependency{}
		}
		return s
	}
	p := &types.Project{Services: types.Services{
		"producer": svc("producer", "setup"),
		"setup":    svc("setup", "kibana", "kafka"),
		"kibana":   svc("kibana", "setup"),
		"kafka":    svc("kafka"),
	}}
	got := dependencies(p, "producer")
	if got["kibana"] != "producer -> setup -> kibana" || got["kafka"] != "producer -> setup -> kafka" || len(got) != 3 {
		t.Errorf("dependencies = %v", got)
	}
}

// TestComposeSetupPartsCoverEverything: the two setup one-shots together
// run every part of orderctl setup, each part once, and only
// kibana-setup's needs Kibana.
func TestComposeSetupPartsCoverEverything(t *testing.T) {
	forEachProfile(t, func(t *testing.T, p *types.Project, _ profileCase) {
		parts := map[string]string{}
		for _, svc := range []string{"setup", "kibana-setup"} {
			for _, part := range strings.Split(env(t, p, svc, "SETUP_PARTS"), ",") {
				if other, dup := parts[part]; dup {
					t.Errorf("part %s runs in both %s and %s", part, other, svc)
				}
				parts[part] = svc
			}
		}
		want := map[string]string{"topics": "setup", "security": "setup", "template": "setup", "kibana": "kibana-setup"}
		if !maps.Equal(parts, want) {
			t.Errorf("setup parts %v, want %v", parts, want)
		}
		if _, ok := p.Services["setup"].Environment["KIBANA_URL"]; ok {
			t.Error("setup has KIBANA_URL: only kibana-setup talks to Kibana")
		}
		if got := env(t, p, "kibana-setup", "KIBANA_URL"); got != contract.KibanaURL {
			t.Errorf("kibana-setup KIBANA_URL = %q, want %q", got, contract.KibanaURL)
		}
		if got := p.Services["kibana-setup"].Command; !slices.Equal([]string(got), []string{"setup"}) {
			t.Errorf("kibana-setup command = %v, want [setup]", got)
		}
		if a, b := p.Services["kibana-setup"].Image, p.Services["setup"].Image; a != b {
			t.Errorf("kibana-setup runs image %q, setup %q: want the one orderctl image", a, b)
		}
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
	for _, svc := range []string{"producer", "consumer", "setup", "kibana-setup"} {
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
		if want := strings.TrimPrefix(svc, "kibana-"); b.Target != want {
			t.Errorf("%s build target %q, want %q", svc, b.Target, want)
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

// TestComposeDashboard: the dashboard is optional (profile "dashboard"),
// published on loopback only, runs orderctl dashboard from the setup image
// against the stack's own services, and probes itself.
func TestComposeDashboard(t *testing.T) {
	if _, ok := loadCompose(t).Services["dashboard"]; ok {
		t.Error("the dashboard runs without its profile")
	}
	for _, st := range stacks {
		t.Run(st.name, func(t *testing.T) {
			p := loadComposeFiles(t, st.files, "COMPOSE_PROFILES=go-consumer,dashboard")
			d, ok := p.Services["dashboard"]
			if !ok {
				t.Fatal("COMPOSE_PROFILES=dashboard does not run the dashboard")
			}
			if !slices.Equal([]string(d.Command), []string{"dashboard"}) || d.Build == nil || d.Build.Target != "setup" {
				t.Errorf("dashboard runs %v from target %v, want orderctl dashboard from the setup image", d.Command, d.Build)
			}
			if len(d.Ports) != 1 || d.Ports[0].HostIP != "127.0.0.1" || d.Ports[0].Published != "5602" || d.Ports[0].Target != 5602 {
				t.Errorf("dashboard ports %+v, want 127.0.0.1:5602:5602", d.Ports)
			}
			if hc := d.HealthCheck; hc == nil || !slices.Equal([]string(hc.Test), []string{"CMD", "/usr/local/bin/orderctl", "dashboard", "-probe"}) {
				t.Errorf("dashboard healthcheck %v, want orderctl dashboard -probe", hc)
			}
			for key, want := range map[string]string{
				"DASHBOARD_ADDR": ":5602", "KAFKA_BROKERS": contract.InternalBootstrap, "KAFKA_TOPIC": contract.Topic,
				"DLQ_TOPIC": contract.DLQTopic, "CONSUMER_GROUP": contract.ConsumerGroup, "ES_ADDRESSES": contract.ESURL,
				"ES_INDEX": contract.Index, "ES_USERNAME": "orderpipe_dashboard", "ES_PASSWORD": p.Environment["DASHBOARD_ES_PASSWORD"],
				"DASHBOARD_PRODUCER_METRICS": "http://producer:" + portOf(contract.ProducerOpsAddr) + "/metrics",
				"DASHBOARD_CONSUMER_METRICS": "http://consumer:" + portOf(contract.ConsumerOpsAddr) + "/metrics",
			} {
				if got := env(t, p, "dashboard", key); got != want {
					t.Errorf("dashboard %s = %q, want %q", key, got, want)
				}
			}
			dependsOn(t, p, "dashboard", "elasticsearch", types.ServiceConditionHealthy)
			dependsOn(t, p, "dashboard", "kafka", types.ServiceConditionHealthy)
			// It reads as the read-only user setup makes, never as elastic.
			dependsOn(t, p, "dashboard", "setup", types.ServiceConditionCompletedSuccessfully)
			if pw := env(t, p, "setup", "DASHBOARD_ES_PASSWORD"); pw == "" || pw != p.Environment["DASHBOARD_ES_PASSWORD"] {
				t.Errorf("setup DASHBOARD_ES_PASSWORD = %q: setup must create the dashboard's user with the password the dashboard reads with", pw)
			}
		})
	}
}

func portOf(addr string) string { return addr[strings.LastIndexByte(addr, ':')+1:] }
