package settings

import (
	"fmt"
	"reflect"
	"strconv"

	"github.com/kelseyhightower/envconfig"
)

// Defaults fills spec (a pointer to an envconfig struct) with its default
// tags alone, as Load would in an environment that sets none of its
// variables, whatever the process's environment holds. Tests take a
// program's defaults from here instead of writing a second copy of them
// that could drift from the one `-h` prints.
func Defaults(spec any) error {
	v := reflect.ValueOf(spec)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("read defaults: %T is not a pointer to a struct", spec)
	}
	return fillDefaults(v.Elem())
}

func fillDefaults(v reflect.Value) error {
	t := v.Type()
	for i := range t.NumField() {
		f, fv := t.Field(i), v.Field(i)
		if !f.IsExported() || f.Tag.Get("ignored") == "true" {
			continue
		}
		// Embedded or named, prefixed or not (a Layout under KAFKA_TOPIC),
		// a struct that does not decode itself holds variables of its own,
		// as Variables and envconfig see it.
		if fv.Kind() == reflect.Struct && !decodesItself(f.Type) {
			if err := fillDefaults(fv); err != nil {
				return err
			}
			continue
		}
		def, ok := f.Tag.Lookup("default")
		if !ok {
			continue
		}
		// envconfig parses the default with its own rules, so a value
		// here is exactly what Load would give. The field it fills is
		// named "=", which no environment variable can be: envconfig
		// finds it unset and applies the default.
		one := reflect.New(reflect.StructOf([]reflect.StructField{{
			Name: "V", Type: f.Type, Tag: reflect.StructTag(`envconfig:"=" default:` + strconv.Quote(def)),
		}}))
		if err := envconfig.Process("", one.Interface()); err != nil {
			return fmt.Errorf("read default of %s: %w", f.Tag.Get("envconfig"), err)
		}
		fv.Set(one.Elem().Field(0))
	}
	return nil
}
