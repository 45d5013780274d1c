package e2e_test

import (
	"os/exec"
	"strings"
	"testing"
)

const e2ePath = "github.com/orderpipe/orderpipe/internal/e2e"

// TestOnlyTestsImportE2E keeps the end-to-end stack out of every program:
// it creates topics, deletes indices and starts consumers on whatever
// servers the environment names, which only a test may do.
func TestOnlyTestsImportE2E(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("find the go command to list the module's imports: %v", err)
	}
	// Imports is what a package's own files import; its tests' imports are
	// TestImports and XTestImports.
	out, err := exec.Command(goTool, "list", "-f",
		`{{.ImportPath}}|{{join .Imports ","}}|{{join .TestImports ","}},{{join .XTestImports ","}}`,
		"github.com/orderpipe/orderpipe/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	testImporters := 0
	for line := range strings.Lines(string(out)) {
		fields := strings.Split(strings.TrimSpace(line), "|")
		if len(fields) != 3 {
			t.Fatalf("unexpected go list line %q", line)
		}
		pkg, imports, testImports := fields[0], fields[1], fields[2]
		if pkg != e2ePath && importsE2E(imports) {
			t.Errorf("%s imports %s outside its tests", pkg, e2ePath)
		}
		if importsE2E(testImports) {
			testImporters++
		}
	}
	// The consumer's tests use the stack, so a listing that finds no test
	// importer at all is broken output, not a clean module.
	if testImporters == 0 {
		t.Fatalf("go list shows no test importing %s; output:\n%s", e2ePath, out)
	}
}

func importsE2E(list string) bool {
	for imp := range strings.SplitSeq(list, ",") {
		if imp == e2ePath {
			return true
		}
	}
	return false
}
