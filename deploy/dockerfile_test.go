package deploy

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

var osStat = os.Stat

const distroless = "gcr.io/distroless/static-debian12:nonroot"

func parseDockerfile(t *testing.T) []instructions.Stage {
	t.Helper()
	src := readFile(t, filepath.Join(repoRoot(t), "deploy", "docker", "Dockerfile"))
	res, err := parser.Parse(bytes.NewReader(src))
	if err != nil {
		t.Fatalf("Dockerfile does not parse: %v", err)
	}
	stages, _, err := instructions.Parse(res.AST, nil)
	if err != nil {
		t.Fatalf("Dockerfile instructions do not parse: %v", err)
	}
	return stages
}

func dockerfileStageNames(t *testing.T) []string {
	var names []string
	for _, s := range parseDockerfile(t) {
		names = append(names, s.Name)
	}
	return names
}

func TestDockerfileFinalStages(t *testing.T) {
	stages := parseDockerfile(t)
	byName := map[string]instructions.Stage{}
	for _, s := range stages {
		byName[s.Name] = s
	}
	for stage, bin := range map[string]string{"producer": "producer", "consumer": "consumer", "setup": "orderctl"} {
		t.Run(stage, func(t *testing.T) {
			s, ok := byName[stage]
			if !ok {
				t.Fatalf("no stage %q", stage)
			}
			if s.BaseName != distroless {
				t.Errorf("stage %s is FROM %q, want %q", stage, s.BaseName, distroless)
			}
			var user string
			var entrypoint []string
			copied := false
			for _, c := range s.Commands {
				switch c := c.(type) {
				case *instructions.UserCommand:
					user = c.User
				case *instructions.EntrypointCommand:
					entrypoint = c.CmdLine
				case *instructions.CopyCommand:
					if c.From == "build" && strings.Contains(strings.Join(c.SourcePaths, " "), "/out/"+bin) {
						copied = true
					}
				}
			}
			if u := strings.SplitN(user, ":", 2)[0]; u == "" || u == "root" || u == "0" {
				t.Errorf("stage %s runs as %q, want a non-root USER", stage, user)
			}
			if !copied {
				t.Errorf("stage %s does not copy /out/%s from the build stage", stage, bin)
			}
			if len(entrypoint) == 0 || entrypoint[0] != "/usr/local/bin/"+bin {
				t.Errorf("stage %s ENTRYPOINT %v, want /usr/local/bin/%s", stage, entrypoint, bin)
			}
		})
	}
}

func TestDockerfileBuildStage(t *testing.T) {
	stages := parseDockerfile(t)
	var build *instructions.Stage
	for i := range stages {
		if stages[i].Name == "build" {
			build = &stages[i]
		}
	}
	if build == nil {
		t.Fatal("no build stage")
	}
	m := regexp.MustCompile(`^golang:(\d+)\.(\d+)(?:\.(\d+))?(?:-[a-z0-9]+)?$`).FindStringSubmatch(build.BaseName)
	if m == nil {
		t.Fatalf("build stage is FROM %q, want a pinned golang:<version> image", build.BaseName)
	}
	// The image's Go must satisfy go.mod's go directive, or the build would
	// need to download a toolchain (GOTOOLCHAIN=local forbids that).
	gomod := readFile(t, filepath.Join(repoRoot(t), "go.mod"))
	gm := regexp.MustCompile(`(?m)^go (\d+)\.(\d+)(?:\.(\d+))?\s*$`).FindSubmatch(gomod)
	if gm == nil {
		t.Fatal("go.mod has no go directive")
	}
	if cmpVersion(m[1:], []string{string(gm[1]), string(gm[2]), string(gm[3])}) < 0 {
		t.Errorf("build image %s is older than go.mod's go %s.%s.%s", build.BaseName, gm[1], gm[2], gm[3])
	}
	var cgoOff, built bool
	for _, c := range build.Commands {
		switch c := c.(type) {
		case *instructions.EnvCommand:
			for _, kv := range c.Env {
				if kv.Key == "CGO_ENABLED" && kv.Value == "0" {
					cgoOff = true
				}
			}
		case *instructions.RunCommand:
			line := strings.Join(c.CmdLine, " ")
			if strings.Contains(line, "go build") {
				built = true
				if strings.Contains(line, "CGO_ENABLED=0") {
					cgoOff = true
				}
				for _, want := range []string{"-trimpath", "-s -w", "./cmd/producer", "./cmd/consumer", "./cmd/orderctl"} {
					if !strings.Contains(line, want) {
						t.Errorf("go build line lacks %q: %s", want, line)
					}
				}
			}
		}
	}
	if !built {
		t.Error("build stage never runs go build")
	}
	if !cgoOff {
		t.Error("build stage does not set CGO_ENABLED=0 (distroless/static needs static binaries)")
	}
}

func cmpVersion(a, b []string) int {
	for i := 0; i < 3; i++ {
		x, _ := strconv.Atoi(a[i])
		y, _ := strconv.Atoi(b[i])
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}
