package challenge

import (
	"fmt"
	"testing"
)

func TestParseIsStrict(t *testing.T) {
	good := []struct {
		in   string
		want map[string]string
	}{
		{`Bearer`, map[string]string{}},
		{`Bearer realm="portcullis"`, map[string]string{"realm": "portcullis"}},
		{`Bearer realm="p", resource_metadata="https://x/.well-known/oauth-protected-resource/a"`,
			map[string]string{"realm": "p", "resource_metadata": "https://x/.well-known/oauth-protected-resource/a"}},
		{`Bearer realm = "a\"b" ,error=invalid_token`, map[string]string{"realm": `a"b`, "error": "invalid_token"}},
	}
	for _, tc := range good {
		c, err := Parse(tc.in)
		if err != nil || c.Scheme != "Bearer" || fmt.Sprint(c.Params) != fmt.Sprint(tc.want) {
			t.Errorf("Parse(%q) = %+v, %v; want Bearer %v", tc.in, c, err, tc.want)
		}
	}
	for _, in := range []string{
		``,
		`Bearer realm="a`,
		`Bearer realm="a" error="b"`,
		`Bearer realm="a"b"`,
		`Bearer realm="a",, error="b"`,
		`Bearer realm="a", realm="b"`,
		`Bearer realm=`,
		`Bearer realm="a", resource_metadata=https://x/y`,
		"Bearer realm=\"a\x01\"",
	} {
		if c, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) = %+v, want an error", in, c)
		}
	}
}
