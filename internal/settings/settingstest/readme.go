package settingstest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/orderpipe/orderpipe/internal/settings"
)

// UpdateDocsEnv is the variable that, set to 1, makes AssertREADMESection
// write the section instead of comparing it: `make docs` runs the programs' README tests so.
const UpdateDocsEnv = "ORDERPIPE_UPDATE_DOCS"

// AssertREADMESection fails the test unless the repository's README.md holds
// body as its generated section name (settings.ReplaceSection), naming the
// first line that differs and `make docs`, which rewrites it. With
// ORDERPIPE_UPDATE_DOCS=1 it writes body there instead. The programs render
// their settings tables with settings.Markdown and check them here, so a
// setting added, removed or re-described in the code fails the build until
// the README says the same.
func AssertREADMESection(t *testing.T, name string, body []byte) {
	t.Helper()
	path := filepath.Join(ModuleRoot(t), "README.md")
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want, err := settings.ReplaceSection(doc, name, body)
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}
	if bytes.Equal(doc, want) {
		return
	}
	if os.Getenv(UpdateDocsEnv) == "1" {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("README.md: rewrote section %s", name)
		return
	}
	got, exp := bytes.Split(doc, []byte("\n")), bytes.Split(want, []byte("\n"))
	line := 0
	for line < len(got) && line < len(exp) && bytes.Equal(got[line], exp[line]) {
		line++
	}
	var has, should []byte
	if line < len(got) {
		has = got[line]
	}
	if line < len(exp) {
		should = exp[line]
	}
	t.Fatalf("README.md's section %s differs from the code; run `make docs` to regenerate it.\n"+
		"line %d is\n\t%s\nthe code gives\n\t%s", name, line+1, has, should)
}

// AssertREADMESettings is AssertREADMESection for a program's settings
// table: spec (its envconfig struct) rendered by settings.Markdown.
func AssertREADMESettings(t *testing.T, name string, spec any) {
	t.Helper()
	var table bytes.Buffer
	if err := settings.Markdown(&table, spec); err != nil {
		t.Fatal(err)
	}
	AssertREADMESection(t, name, table.Bytes())
}
