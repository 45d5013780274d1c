package settingstest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/orderpipe/orderpipe/internal/settings"
)

// helpVariable is a variable's row in a -h table: two spaces, then the name.
var helpVariable = regexp.MustCompile(`(?m)^  ([A-Z][A-Z0-9_]+)\b`)

// Program is a command as every orderpipe main has it: run(ctx, args,
// stdout, stderr) and the exit code it maps an error to, for assertions
// that run the command as a user would.
type Program struct {
	Run      func(ctx context.Context, args []string, stdout, stderr io.Writer) error
	ExitCode func(err error, stderr io.Writer) int
}

// AssertHelpHidesSecrets runs p with each of helpArgs (-h and its
// spellings, or each subcommand's -h): once to learn the variables it
// lists, then with every secret one (settings.IsSecret) set to a value of
// its own, failing if any of those values is printed. It fails too when
// help lists no secret, so a changed -h layout cannot make the check
// vacuous.
func AssertHelpHidesSecrets(t *testing.T, p Program, helpArgs ...[]string) {
	t.Helper()
	for _, args := range helpArgs {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			help := func() string {
				t.Helper()
				var stdout, stderr bytes.Buffer
				if err := p.Run(context.Background(), args, &stdout, &stderr); p.ExitCode(err, &stderr) != 0 {
					t.Fatalf("%v: %v\n%s", args, err, stderr.String())
				}
				return stdout.String() + stderr.String()
			}
			values := map[string]string{}
			for _, m := range helpVariable.FindAllStringSubmatch(help(), -1) {
				if settings.IsSecret(m[1]) {
					values[m[1]] = "s3cret-value-of-" + strings.ToLower(m[1])
				}
			}
			if len(values) == 0 {
				t.Fatal("-h lists no secret variable; has its layout changed?")
			}
			for name, value := range values {
				t.Setenv(name, value)
			}
			out := help()
			for name, value := range values {
				if strings.Contains(out, value) {
					t.Errorf("-h prints the value of %s", name)
				}
			}
		})
	}
}

// AssertNamesVariable fails the test unless err blames variable the way
// every orderpipe program reports a bad setting: a *settings.Error naming
// it, which matches settings.ErrInvalid. An empty variable asserts that
// err is nil.
func AssertNamesVariable(tb testing.TB, err error, variable string) {
	tb.Helper()
	if variable == "" {
		if err != nil {
			tb.Fatalf("error %v, want none", err)
		}
		return
	}
	var se *settings.Error
	if !errors.As(err, &se) || se.Variable != variable || !errors.Is(err, settings.ErrInvalid) {
		tb.Fatalf("error %v, want a *settings.Error naming %s", err, variable)
	}
}

// AssertErrorNames fails the test unless what failed with an error whose
// text names every one of names (variables, privileges, settings to fix).
func AssertErrorNames(tb testing.TB, what string, err error, names ...string) {
	tb.Helper()
	if err == nil {
		tb.Fatalf("%s succeeded, want an error naming %v", what, names)
	}
	for _, n := range names {
		if !strings.Contains(err.Error(), n) {
			tb.Errorf("error %q does not name %s", err, n)
		}
	}
}
