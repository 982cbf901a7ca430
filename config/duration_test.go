package config_test

import (
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/portcullis/portcullis/config"
)

func TestDurationReadsGoDurationStrings(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"30s", 30 * time.Second},
		{"15m", 15 * time.Minute},
		{"1h30m", 90 * time.Minute},
		{"250ms", 250 * time.Millisecond},
		{`"2s"`, 2 * time.Second},
		{"0", 0},
		{"0s", 0},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var d config.Duration
			if err := yaml.Unmarshal([]byte(tt.in), &d); err != nil {
				t.Fatal(err)
			}
			if d.D() != tt.want {
				t.Errorf("got %v, want %v", d.D(), tt.want)
			}
		})
	}
}

func TestDurationRefusesWhatItCannotReadUnambiguously(t *testing.T) {
	tests := []struct {
		name, in, msg string
	}{
		{"a bare number has no unit", "30", `duration "30" has no unit: write "30s"`},
		{"a quoted bare number has no unit", `"30"`, `write "30s"`},
		{"a bare fraction has no unit", "1.5", `write "1.5s"`},
		{"a negative duration", "-5s", `duration "-5s" is negative`},
		{"a negative bare number is negative first", "-5", "negative"},
		{"an unknown unit", "5d", `"5d" is not a duration`},
		{"an empty string", `""`, "empty string"},
		{"a list", "[5s]", "not a list"},
		{"a mapping", "{s: 5}", "not a mapping"},
		{"a boolean", "true", "not the boolean true"},
		{"an overflow", "9999999999h", "is not a duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d config.Duration
			err := yaml.Unmarshal([]byte(tt.in), &d)
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error = %v, want one containing %q", err, tt.msg)
			}
		})
	}
}

func TestDurationRoundTripsThroughYAML(t *testing.T) {
	in := config.Duration(90 * time.Second)
	out, err := yaml.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var back config.Duration
	if err := yaml.Unmarshal(out, &back); err != nil || back != in {
		t.Errorf("%q read back as %v, %v", out, back, err)
	}
}

func TestADurationProblemNamesFieldAndLine(t *testing.T) {
	ps := problemsOf(t, issuerOK+"routes:\n  - name: r\n    match: {path: /}\n    upstream: http://127.0.0.1:1\n    timeout: 30\n")
	requireProblem(t, ps, "routes[0].timeout", 6, config.CodeBadDuration, "")
}
