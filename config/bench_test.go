package config_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/config"
)

func BenchmarkParseExample(b *testing.B) {
	data, err := os.ReadFile("../config.example.yaml")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := config.Parse(data, "example"); err != nil {
			b.Fatal(err)
		}
	}
}

// A large generated route table: loading must stay linear (the shadowing
// check in particular must not compare every route with every other).
func BenchmarkParse10kRoutes(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(issuerOK + "routes:\n")
	for i := range 10_000 {
		fmt.Fprintf(&sb, "  - {name: r%d, match: {path_prefix: /svc%d/v1, hosts: [h%d.example.com], methods: [GET]}, upstream: \"http://127.0.0.1:9001\", auth: {scopes: {all_of: [read]}}, forward: {claims_to_headers: {X-User-Id: sub}}}\n", i, i%100, i%7)
	}
	data := []byte(sb.String())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := config.Parse(data, "big"); err != nil {
			b.Fatal(err)
		}
	}
}
