package config_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/config"
)

func TestClaimPathSyntax(t *testing.T) {
	tests := []struct {
		name string
		path string
		want []string // nil: invalid
		msg  string
	}{
		{"a top-level claim is one segment", "sub", []string{"sub"}, ""},
		{"dots descend into objects", "realm_access.roles", []string{"realm_access", "roles"}, ""},
		{"an Auth0-style URL splits on its dots", "https://example.com/roles", []string{"https://example", "com/roles"}, ""},
		{"an escaped dot stays in its segment", `https://example\.com/claims.org`, []string{"https://example.com/claims", "org"}, ""},
		{"a segment may be only an escaped dot", `a.\.`, []string{"a", "."}, ""},
		{"spaces are ordinary characters", "full name", []string{"full name"}, ""},
		{"the empty path is refused", "", nil, "empty"},
		{"a doubled dot is refused", "a..b", nil, "empty segment"},
		{"a leading dot is refused", ".a", nil, "empty segment"},
		{"a trailing dot is refused", "a.", nil, "empty segment"},
		{"a lone dot is refused", ".", nil, "empty segment"},
		{"a backslash before another character is refused", `a\b`, nil, "may only escape a dot"},
		{"a trailing backslash is refused", `a\`, nil, "may only escape a dot"},
		{"an escaped backslash is refused", `a\\.b`, nil, "may only escape a dot"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := config.SplitClaimPath(tt.path)
			verr := config.ValidClaimPath(tt.path)
			if (err == nil) != (verr == nil) {
				t.Fatalf("SplitClaimPath and ValidClaimPath disagree: %v, %v", err, verr)
			}
			if tt.want == nil {
				if err == nil || !strings.Contains(err.Error(), tt.msg) {
					t.Errorf("error = %v, want one containing %q", err, tt.msg)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("SplitClaimPath(%q) = %q, %v; want %q", tt.path, got, err, tt.want)
			}
		})
	}
}
