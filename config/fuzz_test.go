package config_test

import (
	"errors"
	"os"
	"testing"

	"github.com/portcullis/portcullis/config"
)

// FuzzParse checks the loader's promises on any input: it never panics,
// and it returns either a config or a non-empty Problems, never both.
func FuzzParse(f *testing.F) {
	if example, err := os.ReadFile("../config.example.yaml"); err == nil {
		f.Add(example)
	}
	f.Add([]byte(issuerOK + routeOK))
	f.Add([]byte("routes:\n  - &r {name: a, <<: *r}\n"))
	f.Add([]byte("server: {listen: [x], tls: 1}\nroutes: [{match: {path: orders, hosts: ['*']}}]\n"))
	f.Add([]byte(issuerOK + "routes: [{name: r, upstream: 'http://h', auth: {claims: {a: {one_of: [x, 5]}, b: {contains: &c y}, c: {contains_all: [*c, .nan]}, d: [1], e: {}}}}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := config.Parse(data, "fuzz.yaml")
		if (cfg == nil) == (err == nil) {
			t.Fatalf("Parse returned config %v and error %v", cfg != nil, err)
		}
		if err != nil {
			var ps config.Problems
			if !errors.As(err, &ps) || len(ps) == 0 {
				t.Fatalf("error is not a non-empty Problems: %#v", err)
			}
			for _, p := range ps {
				if p.Line < 0 || p.Msg == "" || p.Code == "" {
					t.Fatalf("malformed problem %#v", p)
				}
			}
		}
	})
}
