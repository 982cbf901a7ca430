package config_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	"github.com/portcullis/portcullis/config"
	"github.com/portcullis/portcullis/config/schemagen/schema"
)

// config.schema.json, the editor's view of the file: it must be what the
// generator writes from today's types, accept every configuration that
// ships, and refuse what portcullis refuses for the reasons a schema can
// see (unknown keys, wrong types, durations, enums, claim rules, required
// keys). portcullis validate stays the authority; these tests keep the two
// from drifting apart.

const (
	schemaFile = "../config.schema.json"
	regenerate = "go run ./config/schemagen > config.schema.json   (or: go generate ./config)"
)

func TestSchemaIsGeneratedFromTheTypes(t *testing.T) {
	t.Parallel()
	want, err := schema.Generate(".")
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatalf("%v\nrun from the repository root: %s", err, regenerate)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("config.schema.json is not what the config types and their doc comments give (%s); run from the repository root:\n\t%s\nand commit the result", firstDifference(got, want), regenerate)
	}
}

// firstDifference names the first line where the committed file and the
// generated one differ.
func firstDifference(got, want []byte) string {
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := range max(len(g), len(w)) {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("first difference on line %d: committed %q, generated %q", i+1, gl, wl)
		}
	}
	return "they differ"
}

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("config.schema.json is not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("config.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	// Compiling checks the schema against the draft 2020-12 metaschema.
	sch, err := c.Compile("config.schema.json")
	if err != nil {
		t.Fatalf("config.schema.json is not a valid JSON Schema: %v", err)
	}
	return sch
}

// instance turns YAML into what a JSON Schema validates, as an editor
// does: through JSON.
func instance(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	j, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

func TestSchemaAcceptsEveryShippedConfiguration(t *testing.T) {
	t.Parallel()
	sch := compileSchema(t)
	paths := []string{"../config.example.yaml"}
	for _, pattern := range []string{"../examples/*.yaml", "../examples/*/portcullis.yaml"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, m...)
	}
	if len(paths) < 2 {
		t.Fatalf("found only %q: where did examples/ go?", paths)
	}
	for _, path := range paths {
		t.Run(strings.TrimPrefix(path, "../"), func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := sch.Validate(instance(t, data)); err != nil {
				t.Errorf("the schema refuses a configuration that ships:\n%v", err)
			}
		})
	}
}

func TestConfigExampleNamesTheSchema(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const want = "# yaml-language-server: $schema=./config.schema.json"
	if first, _, _ := strings.Cut(string(data), "\n"); first != want {
		t.Errorf("config.example.yaml's first line is %q, want %q (editors read the schema from it)", first, want)
	}
}

// baseConfig is valid; each case of TestSchemaAgreesWithPortcullis
// changes one thing in it.
const baseConfig = `
issuers:
  - name: corp
    issuer: https://idp.example.com/
    audiences: [orders-api]
    algorithms: [RS256]
routes:
  - name: orders
    match: {path_prefix: /orders}
    upstream: http://127.0.0.1:9001
    auth:
      mode: required
`

// doc is a configuration as generic YAML values, for the cases to edit.
type doc = map[string]any

func route(c doc) doc  { return c["routes"].([]any)[0].(doc) }
func issuer(c doc) doc { return c["issuers"].([]any)[0].(doc) }
func auth(c doc) doc   { return route(c)["auth"].(doc) }

func TestSchemaAgreesWithPortcullis(t *testing.T) {
	t.Parallel()
	sch := compileSchema(t)
	set := func(key string, v any) func(doc) doc { return func(c doc) doc { c[key] = v; return c } }
	onRoute := func(key string, v any) func(doc) doc { return func(c doc) doc { route(c)[key] = v; return c } }
	onIssuer := func(key string, v any) func(doc) doc { return func(c doc) doc { issuer(c)[key] = v; return c } }
	onAuth := func(key string, v any) func(doc) doc { return func(c doc) doc { auth(c)[key] = v; return c } }
	claim := func(v any) func(doc) doc { return onAuth("claims", doc{"tenant": v}) }
	introspection := func(in doc) func(doc) doc {
		return func(c doc) doc { in["client_id"] = "gw"; issuer(c)["introspection"] = in; return c }
	}
	without := func(key string, of func(doc) doc) func(doc) doc {
		return func(c doc) doc { delete(of(c), key); return c }
	}

	for _, tc := range []struct {
		name  string
		edit  func(doc) doc
		valid bool
	}{
		{"the base configuration is valid", func(c doc) doc { return c }, true},

		{"a duration with units is accepted", onRoute("timeout", "1h30m"), true},
		{"a fractional duration is accepted", onRoute("timeout", "1.5s"), true},
		{"a duration in milliseconds is accepted", onRoute("timeout", "250ms"), true},
		{"a duration in microseconds is accepted", onRoute("timeout", "1500µs"), true},
		{"0 without a unit is accepted as a duration", set("server", doc{"drain_delay": 0}), true},
		{`"0" without a unit is accepted as a duration`, set("server", doc{"drain_delay": "0"}), true},
		{"a bare number of seconds is refused", onRoute("timeout", 30), false},
		{"a bare number written as a string is refused", onRoute("timeout", "30"), false},
		{"a negative duration is refused", set("server", doc{"drain_delay": "-5s"}), false},
		{"days are not a unit", onRoute("timeout", "1d"), false},
		{"a duration is not a mapping", onRoute("timeout", doc{"s": 30}), false},

		{"an unknown key at the top is refused", set("listen", ":8080"), false},
		{"an unknown key in a route is refused", onRoute("upstreams", "http://127.0.0.1:9002"), false},
		{"a misspelled key in an issuer is refused", onIssuer("algorithm", []any{"RS256"}), false},
		{"an unknown key in a claim operator is refused", claim(doc{"equals": "acme"}), false},

		// Every word of every enum, so that an editor never completes
		// the file into an error.
		{"auth.mode required is accepted", onAuth("mode", "required"), true},
		{"auth.mode optional is accepted", onAuth("mode", "optional"), true},
		{"auth.mode public is accepted", onAuth("mode", "public"), true},
		{"auth.mode is case-sensitive", onAuth("mode", "Required"), false},
		{"auth.mode is one of three words", onAuth("mode", "anonymous"), false},
		{"log.level debug is accepted", set("log", doc{"level": "debug"}), true},
		{"log.level info is accepted", set("log", doc{"level": "info"}), true},
		{"log.level warn is accepted", set("log", doc{"level": "warn"}), true},
		{"log.level error is accepted", set("log", doc{"level": "error"}), true},
		{"log.level verbose is refused", set("log", doc{"level": "verbose"}), false},
		{"log.format json is accepted", set("log", doc{"format": "json"}), true},
		{"log.format console is accepted", set("log", doc{"format": "console"}), true},
		{"log.format text is refused", set("log", doc{"format": "text"}), false},
		{"introspection with client_secret_basic is accepted", introspection(doc{"auth_method": "client_secret_basic", "client_secret_file": "/run/secrets/gw"}), true},
		{"introspection with client_secret_post is accepted", introspection(doc{"auth_method": "client_secret_post", "client_secret_env": "SECRET"}), true},
		{"introspection with private_key_jwt is accepted", introspection(doc{"auth_method": "private_key_jwt", "private_key_file": "/keys/gw.pem", "private_key_algorithm": "RS256"}), true},
		{"introspection with client_secret_jwt is refused", introspection(doc{"auth_method": "client_secret_jwt", "client_secret_env": "SECRET"}), false},

		{"tracing.protocol grpc is accepted", set("tracing", doc{"protocol": "grpc"}), true},
		{"tracing.protocol http/protobuf is accepted", set("tracing", doc{"protocol": "http/protobuf"}), true},
		{`tracing.protocol "" (the OTEL_* environment's) is accepted`, set("tracing", doc{"protocol": ""}), true},
		{"tracing.protocol http/json is refused", set("tracing", doc{"protocol": "http/json"}), false},

		{"enforce false is accepted", onAuth("enforce", false), true},
		{"enforce is a boolean, not the string \"false\"", onAuth("enforce", "false"), false},
		{"websocket is a boolean, not a number", onRoute("websocket", 0), false},
		{"max_in_flight is a whole number", set("server", doc{"max_in_flight": "many"}), false},

		{"a plain string claim is accepted", claim("acme"), true},
		{"a plain number claim is accepted", claim(5), true},
		{"a plain boolean claim is accepted", claim(true), true},
		{"one_of with a list is accepted", claim(doc{"one_of": []any{"eu", "us"}}), true},
		{"contains with one value is accepted", claim(doc{"contains": "admins"}), true},
		{"contains_any with a list is accepted", claim(doc{"contains_any": []any{"ops", "sre"}}), true},
		{"contains_all with a list is accepted", claim(doc{"contains_all": []any{"pwd", "mfa"}}), true},
		{"a list as a plain claim value is refused", claim([]any{"a", "b"}), false},
		{"contains with a list is refused", claim(doc{"contains": []any{"a"}}), false},
		{"one_of with one value instead of a list is refused", claim(doc{"one_of": "eu"}), false},
		{"one_of with an empty list is refused", claim(doc{"one_of": []any{}}), false},
		{"two operators in one rule are refused", claim(doc{"contains": "a", "contains_any": []any{"b"}}), false},
		{"an empty operator mapping is refused", claim(doc{}), false},
		{"an object as an expected value is refused", claim(doc{"one_of": []any{doc{"a": 1}}}), false},

		{"a route needs an upstream", without("upstream", route), false},
		{"a route needs a name", without("name", route), false},
		{"an issuer needs a name", without("name", issuer), false},
		{"an issuer needs its issuer", without("issuer", issuer), false},
		{"an issuer needs algorithms", without("algorithms", issuer), false},
		{"an issuer's algorithms are not empty", onIssuer("algorithms", []any{}), false},
		{"a resource needs its resource", set("resources", []any{doc{"name": "orders"}}), false},
		{"the file needs routes", func(c doc) doc { delete(c, "routes"); c["issuers"] = []any{}; return c }, false},
		{"the routes are not empty", set("routes", []any{}), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var c doc
			if err := yaml.Unmarshal([]byte(baseConfig), &c); err != nil {
				t.Fatal(err)
			}
			data, err := yaml.Marshal(tc.edit(c))
			if err != nil {
				t.Fatal(err)
			}
			_, parseErr := config.Parse(data, "case.yaml")
			schemaErr := sch.Validate(instance(t, data))
			verdict := func(err error) string {
				if err == nil {
					return "accepts"
				}
				return "refuses"
			}
			want := "refuses"
			if tc.valid {
				want = "accepts"
			}
			if got := verdict(parseErr); got != want {
				t.Errorf("portcullis %s it, want %s (the case is wrong):\n%s\n%v", got, want, data, parseErr)
			}
			if got := verdict(schemaErr); got != want {
				t.Errorf("the schema %s it, but portcullis %s:\n%s\n%v", got, want, data, schemaErr)
			}
		})
	}
}
