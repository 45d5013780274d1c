package settings

import (
	"encoding"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"

	"github.com/kelseyhightower/envconfig"
)

// Variable is one setting of a spec as envconfig reads it.
type Variable struct {
	Name    string // the full name, prefixes of nested structs included
	Desc    string // the desc tag, the meaning -h prints
	Default string // the default tag, as -h prints it ("" for none)
	value   reflect.Value
}

// Variables lists the settings of spec (an envconfig struct) under the
// names envconfig reads them by. A struct field with a tag is a prefix for
// its fields (Layout `envconfig:"DLQ_TOPIC"` reads DLQ_TOPIC_PARTITIONS), so
// the tag alone is not the name: the start-up log and the tests that check
// every variable has a meaning need the names envconfig derives, and this
// derives them by envconfig's rules (TestVariablesAreTheNamesEnvconfigReads
// holds the two together).
func Variables(spec any) []Variable {
	var out []Variable
	gatherVariables("", reflect.Indirect(reflect.ValueOf(spec)), &out)
	return out
}

var (
	// envconfig's own expressions for split_words.
	wordPattern    = regexp.MustCompile("([^A-Z]+|[A-Z]+[^A-Z]+|[A-Z]+)")
	acronymPattern = regexp.MustCompile("([A-Z]+)([A-Z][^A-Z]+)")

	decoderType    = reflect.TypeFor[envconfig.Decoder]()
	setterType     = reflect.TypeFor[envconfig.Setter]()
	textType       = reflect.TypeFor[encoding.TextUnmarshaler]()
	binaryType     = reflect.TypeFor[encoding.BinaryUnmarshaler]()
	decodableTypes = []reflect.Type{decoderType, setterType, textType, binaryType}
)

func gatherVariables(prefix string, v reflect.Value, out *[]Variable) {
	if v.Kind() != reflect.Struct {
		return
	}
	t := v.Type()
	for i := range t.NumField() {
		f, fv := t.Field(i), v.Field(i)
		if !f.IsExported() || f.Tag.Get("ignored") == "true" {
			continue
		}
		key := variableKey(prefix, f)
		if fv.Kind() == reflect.Struct && !decodesItself(f.Type) {
			inner := key
			if f.Anonymous {
				inner = prefix
			}
			gatherVariables(inner, fv, out)
			continue
		}
		*out = append(*out, Variable{Name: key, Desc: f.Tag.Get("desc"), Default: f.Tag.Get("default"), value: fv})
	}
}

// variableKey is envconfig's name for the field f under prefix.
func variableKey(prefix string, f reflect.StructField) string {
	key := f.Name
	if f.Tag.Get("split_words") == "true" {
		var words []string
		for _, w := range wordPattern.FindAllString(f.Name, -1) {
			if m := acronymPattern.FindStringSubmatch(w); len(m) == 3 {
				words = append(words, m[1], m[2])
			} else {
				words = append(words, w)
			}
		}
		key = strings.Join(words, "_")
	}
	if tag := f.Tag.Get("envconfig"); tag != "" {
		key = tag
	}
	if prefix != "" {
		key = prefix + "_" + key
	}
	return strings.ToUpper(key)
}

// decodesItself reports whether envconfig reads a struct of type t from one
// variable rather than descending into its fields.
func decodesItself(t reflect.Type) bool {
	pt := reflect.PointerTo(t)
	for _, it := range decodableTypes {
		if t.Implements(it) || pt.Implements(it) {
			return true
		}
	}
	return false
}

// Renamer is implemented by a settings struct whose variables were renamed.
// Load refuses a spec when an old name is set, rather than reading it on
// quietly or ignoring it: a user who set DLQ_REPLICATION_FACTOR=3 and got a
// topic with one replica would learn it only when a broker died.
type Renamer interface {
	// RenamedVariables maps each old name to the name that replaced it.
	RenamedVariables() map[string]string
}

// checkRenamed returns an *Error naming the replacement of the first old
// name that is set, looking at spec and every struct inside it.
func checkRenamed(v reflect.Value) error {
	v = reflect.Indirect(v)
	if v.Kind() != reflect.Struct {
		return nil
	}
	if r, ok := v.Interface().(Renamer); ok {
		for old, replacement := range r.RenamedVariables() {
			if _, set := os.LookupEnv(old); set {
				return &Error{Variable: old, Reason: fmt.Sprintf("was renamed %s: set that instead", replacement)}
			}
		}
	}
	for i := range v.NumField() {
		if !v.Type().Field(i).IsExported() {
			continue
		}
		if err := checkRenamed(v.Field(i)); err != nil {
			return err
		}
	}
	return nil
}
