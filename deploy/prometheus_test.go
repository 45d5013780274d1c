package deploy

import (
	"net"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v4"
)

// promtool itself checks and unit-tests deploy/prometheus (make
// test-rules); these tests check what promtool does not: that every alert
// is tested both ways and documented, and that the compose profile runs
// Prometheus on those files, scraping the services as compose names them.

const promDir = "deploy/prometheus"

type promRules struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

type promRuleTests struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		Name  string `yaml:"name"`
		Cases []struct {
			Alert string `yaml:"alertname"`
			Exp   []any  `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

type promConfig struct {
	RuleFiles     []string `yaml:"rule_files"`
	ScrapeConfigs []struct {
		Job   string `yaml:"job_name"`
		DNSSD []struct {
			Names []string `yaml:"names"`
			Type  string   `yaml:"type"`
			Port  int      `yaml:"port"`
		} `yaml:"dns_sd_configs"`
	} `yaml:"scrape_configs"`
}

func readYAML(t *testing.T, file string, v any) {
	t.Helper()
	if err := yaml.Unmarshal(readFile(t, filepath.Join(repoRoot(t), file)), v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

// alertNames are the alerts of orderpipe-rules.yml.
func alertNames(t *testing.T) []string {
	t.Helper()
	var rules promRules
	readYAML(t, promDir+"/orderpipe-rules.yml", &rules)
	var names []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				names = append(names, r.Alert)
			}
		}
	}
	return names
}

// The list: lag, no progress, dead letters, not ready, producer
// failures and duplicates, Elasticsearch retries, latency, target down.
var wantAlerts = []string{
	"OrderpipeConsumerLagHigh", "OrderpipeConsumerNoProgress", "OrderpipeDeadLetters", "OrderpipeNotReady",
	"OrderpipeProducerWriteFailures", "OrderpipeProducerPossibleDuplicates", "OrderpipeElasticsearchRetries",
	"OrderpipeEndToEndLatencyHigh", "OrderpipeTargetDown",
}

func TestAlertRulesAreLabelledAndDocumented(t *testing.T) {
	var rules promRules
	readYAML(t, promDir+"/orderpipe-rules.yml", &rules)
	readme := string(readFile(t, filepath.Join(repoRoot(t), "README.md")))
	_, monitoring, _ := strings.Cut(readme, "\n## Monitoring\n")
	monitoring, _, _ = strings.Cut(monitoring, "\n## ")
	var got []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			got = append(got, r.Alert)
			if s := r.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("%s: severity %q, want warning or critical", r.Alert, s)
			}
			for _, a := range []string{"summary", "runbook"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("%s has no %s annotation", r.Alert, a)
				}
			}
			if !strings.Contains(monitoring, "`"+r.Alert+"`") {
				t.Errorf("%s is not described in the README's Monitoring section", r.Alert)
			}
		}
	}
	slices.Sort(got)
	want := slices.Clone(wantAlerts)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("alerts %v, want %v", got, want)
	}
}

// TestEveryAlertIsUnitTestedBothWays: orderpipe-rules.test.yml has, for
// every alert, a case where it fires and one where it stays silent.
func TestEveryAlertIsUnitTestedBothWays(t *testing.T) {
	var tests promRuleTests
	readYAML(t, promDir+"/orderpipe-rules.test.yml", &tests)
	if !slices.Equal(tests.RuleFiles, []string{"orderpipe-rules.yml"}) {
		t.Errorf("the unit tests load %v, want [orderpipe-rules.yml]", tests.RuleFiles)
	}
	fires, silent := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, c := range tc.Cases {
			if len(c.Exp) > 0 {
				fires[c.Alert] = true
			} else {
				silent[c.Alert] = true
			}
		}
	}
	for _, a := range alertNames(t) {
		if !fires[a] {
			t.Errorf("%s: no unit test where it fires", a)
		}
		if !silent[a] {
			t.Errorf("%s: no unit test where it stays silent", a)
		}
	}
}

func TestComposeMonitoringProfile(t *testing.T) {
	for _, st := range stacks {
		t.Run(st.name, func(t *testing.T) {
			p := loadComposeFiles(t, st.files, "COMPOSE_PROFILES=go-consumer,monitoring")
			prom, ok := p.Services["prometheus"]
			if !ok {
				t.Fatal("no prometheus service under profile monitoring")
			}
			if !slices.Equal(prom.Profiles, []string{"monitoring"}) {
				t.Errorf("prometheus profiles %v, want [monitoring]", prom.Profiles)
			}
			version := p.Environment["PROMETHEUS_VERSION"]
			if !strings.HasPrefix(version, "v") || strings.Count(version, ".") != 2 {
				t.Errorf("PROMETHEUS_VERSION = %q, want a pinned vX.Y.Z", version)
			}
			if want := "prom/prometheus:" + version; prom.Image != want {
				t.Errorf("prometheus image %q, want %q", prom.Image, want)
			}
			if len(prom.Ports) != 1 || prom.Ports[0].HostIP != "127.0.0.1" || prom.Ports[0].Target != 9090 {
				t.Errorf("prometheus ports %+v, want 9090 on 127.0.0.1 only", prom.Ports)
			}
			// The files it runs are the repository's, mounted read-only.
			mounted := map[string]string{} // container path -> repository path
			for _, v := range prom.Volumes {
				if v.Type != "bind" {
					continue
				}
				rel, err := filepath.Rel(repoRoot(t), v.Source)
				if err != nil || !strings.HasPrefix(rel, promDir+"/") || !v.ReadOnly {
					t.Errorf("prometheus mounts %s (read-only %v), want read-only files of %s", v.Source, v.ReadOnly, promDir)
				}
				readFile(t, v.Source)
				mounted[v.Target] = rel
			}
			var cfgFile string
			for _, arg := range prom.Command {
				if f, ok := strings.CutPrefix(arg, "--config.file="); ok {
					cfgFile = f
				}
			}
			if mounted[cfgFile] != promDir+"/prometheus.yml" {
				t.Fatalf("--config.file=%s is %q, want %s/prometheus.yml", cfgFile, mounted[cfgFile], promDir)
			}
			var cfg promConfig
			readYAML(t, promDir+"/prometheus.yml", &cfg)
			for _, rf := range cfg.RuleFiles {
				if in := path.Join(path.Dir(cfgFile), rf); mounted[in] != promDir+"/"+rf {
					t.Errorf("rule file %s (%s in the container) is not mounted from %s", rf, in, promDir)
				}
			}
			checkScrapeTargets(t, p.Services, cfg)
		})
	}
}

// checkScrapeTargets: each daemon is found by DNS under its compose
// service name (every replica of a scaled service), on its OPS_ADDR port.
func checkScrapeTargets(t *testing.T, services types.Services, cfg promConfig) {
	t.Helper()
	want := map[string]string{"orderpipe-producer": "producer", "orderpipe-consumer": "consumer"}
	for _, sc := range cfg.ScrapeConfigs {
		svc, ok := want[sc.Job]
		if !ok {
			t.Errorf("scrape job %s: the rules know orderpipe-producer and orderpipe-consumer", sc.Job)
			continue
		}
		delete(want, sc.Job)
		if len(sc.DNSSD) != 1 || !slices.Equal(sc.DNSSD[0].Names, []string{svc}) || sc.DNSSD[0].Type != "A" {
			t.Errorf("job %s: dns_sd_configs %+v, want A records of service %s", sc.Job, sc.DNSSD, svc)
			continue
		}
		s, ok := services[svc]
		if !ok {
			t.Errorf("job %s scrapes service %s, which compose does not run", sc.Job, svc)
			continue
		}
		ops := s.Environment["OPS_ADDR"]
		if ops == nil {
			t.Errorf("service %s has no OPS_ADDR", svc)
			continue
		}
		if _, port, _ := net.SplitHostPort(*ops); port != strconv.Itoa(sc.DNSSD[0].Port) {
			t.Errorf("job %s scrapes port %d, %s serves /metrics on OPS_ADDR %s", sc.Job, sc.DNSSD[0].Port, svc, *ops)
		}
	}
	for job := range want {
		t.Errorf("no scrape job %s", job)
	}
}
