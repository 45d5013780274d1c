package settings

import "strings"

// secretMarks are the parts of a variable's name that make its value a
// secret: masked in the start-up log, and never printed anywhere else.
var secretMarks = []string{"PASSWORD", "SECRET", "TOKEN", "API_KEY"}

// IsSecret reports whether the variable name holds a secret. It is the one
// rule for what is masked, shared with the tests that assert no secret
// value is printed.
func IsSecret(name string) bool {
	for _, mark := range secretMarks {
		if strings.Contains(name, mark) {
			return true
		}
	}
	return false
}
