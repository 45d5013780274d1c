// Package settings is the contract between orderpipe's programs and the
// environment they are configured by: every setting is an environment
// variable read with envconfig, `-h` prints them all with their defaults (and
// the README's settings tables are rendered from the same declarations), the
// start-up log shows them by name with secrets masked, and a bad value is an
// error that names its variable and makes the program exit with code 2.
package settings

import (
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"text/tabwriter"

	"github.com/kelseyhightower/envconfig"
)

// LogValue renders a configuration struct read by envconfig as a log value
// keyed by the environment variable names, so that the start-up line shows
// exactly what a user would set. Secrets (IsSecret: names containing
// PASSWORD, SECRET, TOKEN or API_KEY) are masked when set.
func LogValue(spec any) slog.Value {
	vars := Variables(spec)
	attrs := make([]slog.Attr, 0, len(vars))
	for _, v := range vars {
		attrs = append(attrs, slog.String(v.Name, settingString(v.Name, v.value)))
	}
	return slog.GroupValue(attrs...)
}

func settingString(name string, v reflect.Value) string {
	if IsSecret(name) {
		if v.IsZero() {
			return ""
		}
		return "*****"
	}
	if v.Kind() == reflect.Slice {
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = fmt.Sprint(v.Index(i).Interface())
		}
		return strings.Join(parts, ",")
	}
	return fmt.Sprint(v.Interface())
}

// Print writes the table every program's -h shows: each environment
// variable of spec (an envconfig struct) with its default and meaning.
func Print(w io.Writer, spec any) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if err := envconfig.Usagef("", spec, tw, settingsFormat); err != nil {
		return fmt.Errorf("print settings: %w", err)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("print settings: %w", err)
	}
	return nil
}

const settingsFormat = `  VARIABLE	DEFAULT	MEANING
{{range .}}  {{usage_key .}}	{{usage_default .}}	{{usage_description .}}
{{end}}`
