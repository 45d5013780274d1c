package settings

import (
	"errors"
	"fmt"
	"io"
	"reflect"

	"github.com/kelseyhightower/envconfig"
)

// UsageError is a mistake in the command line or the environment: the fix is
// in the command, not in the cluster, so programs exit with code 2 on it, as
// flag parsing does.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Usage wraps err as a *UsageError.
func Usage(err error) error { return &UsageError{Err: err} }

// Load fills spec (an envconfig struct) from the environment. A
// value that does not parse, or a variable that was renamed (Renamer), is a
// *UsageError that names its variable.
func Load(spec any) error {
	if err := checkRenamed(reflect.ValueOf(spec)); err != nil {
		return Usage(err)
	}
	if err := envconfig.Process("", spec); err != nil {
		var pe *envconfig.ParseError
		if errors.As(err, &pe) {
			return Usage(fmt.Errorf("%s: cannot use %q as %s", pe.KeyName, pe.Value, pe.TypeName))
		}
		return Usage(fmt.Errorf("read settings: %w", err))
	}
	return nil
}

// Error names the environment variable whose value is wrong, so that a
// program can exit with a message a user can act on.
type Error struct {
	Variable string
	Reason   string
}

func (e *Error) Error() string { return e.Variable + ": " + e.Reason }

// ErrInvalid matches every *Error with errors.Is.
var ErrInvalid = errors.New("invalid setting")

func (e *Error) Is(target error) bool { return target == ErrInvalid }

// ExitCode prints err for program on stderr and maps it to the exit status
// every orderpipe program uses: 0 for success, 2 for a *UsageError (fix the
// command or the environment, not the cluster; help names where to look), 1
// otherwise.
func ExitCode(program, help string, err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "%s: %v\n", program, err)
	var usage *UsageError
	if errors.As(err, &usage) {
		fmt.Fprintf(stderr, "(run `%s` for every variable and its default)\n", help)
		return 2
	}
	return 1
}
