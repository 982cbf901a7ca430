package config

import (
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// String formats d like time.Duration does ("1m30s").
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalYAML writes d in the form UnmarshalYAML reads, so that a Config can
// be printed back (by `portcullis explain`, for example) and loaded again.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalYAML reads a Go duration string: "30s", "15m", "1h30m", "250ms".
//
// A bare number is refused, even though yaml would happily read 30 as an
// integer: whether it meant seconds, milliseconds or nanoseconds
// (time.Duration's unit) is a guess, and a timeout that is a billion times
// too short is not found until production. "0" alone is accepted, since it
// means the same in every unit. Negative durations are refused: no setting
// here has a meaning for them.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind != yaml.ScalarNode {
		return codedf(CodeWrongType, "must be a duration such as \"30s\", not %s", describe(n))
	}
	s := strings.TrimSpace(n.Value)
	switch n.ShortTag() {
	case "!!str", "!!int", "!!float":
	default:
		return codedf(CodeWrongType, "must be a duration such as \"30s\", not %s", describe(n))
	}
	if s == "" {
		return codedf(CodeBadDuration, "must be a duration such as \"30s\", not an empty string")
	}
	if strings.HasPrefix(s, "-") {
		return codedf(CodeBadDuration, "duration %q is negative", s)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		if isBareNumber(s) {
			return codedf(CodeBadDuration, "duration %q has no unit: write %q (units: ms, s, m, h)", s, s+"s")
		}
		return codedf(CodeBadDuration, "%q is not a duration: write it like \"30s\", \"15m\" or \"1h30m\"", s)
	}
	*d = Duration(v)
	return nil
}

// isBareNumber reports whether s is a number without a unit ("30", "-1",
// "1.5"), so that the error can say what to add instead of just "invalid".
func isBareNumber(s string) bool {
	s = strings.TrimPrefix(s, "+")
	if s == "" {
		return false
	}
	dot := false
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
		case c == '.' && !dot:
			dot = true
		default:
			return false
		}
	}
	return true
}
